"""The yearly plan (INS-9 年度计划公开): the inspections and standards an
enterprise faces this year."""
import datetime as dt

from sqlalchemy import select

from kernel.errors import BadInput, NotFound
from kernel.rpc import rpc

from .. import domain
from ..models import Draw, Enterprise, InspectionItem, Visit
from .base import InspectionsBase


class PlanEntrypoints(InspectionsBase):

    @rpc
    def yearly_plan(self, credit_code, year=None):
        caller = self.caller.require()
        if caller.role == "enterprise" and caller.org != credit_code:
            raise NotFound("no such enterprise")
        if caller.role not in ("enterprise", "department", "taskforce", "admin", "system"):
            raise NotFound("no such enterprise")
        today = self.rules.today()
        try:
            year = int(year) if year is not None else today.year
        except (TypeError, ValueError):
            raise BadInput({"year": ["a year, e.g. 2026"]})
        if not 2000 <= year <= 2100:
            raise BadInput({"year": ["a year, e.g. 2026"]})
        names = self.rules.profile.departments
        with self.db.reading() as s:
            ent = s.get(Enterprise, credit_code) if isinstance(credit_code, str) else None
            if ent is None:
                raise NotFound("no such enterprise")
            visits = s.execute(select(Visit).where(
                Visit.enterprise_code == ent.credit_code,
                Visit.planned_date >= dt.date(year, 1, 1), Visit.planned_date <= dt.date(year, 12, 31),
                Visit.status.in_(domain.COUNTING)).order_by(Visit.planned_date, Visit.id)).scalars().all()
            inspections = self._outs(s, visits, history=False)
            standards = []
            for item in s.execute(select(InspectionItem).where(InspectionItem.active.is_(True))
                                  .order_by(InspectionItem.department, InspectionItem.code)).scalars():
                if item.industries and ent.industry not in item.industries:
                    continue
                standards.append({"department": item.department,
                                  "department_name": names.get(item.department, {}).get("name", ""),
                                  "item_code": item.code, "name": item.name,
                                  "legal_basis": item.legal_basis, "standard": item.standard,
                                  "frequency": item.frequency})
            start = dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc) - dt.timedelta(hours=8)
            drawn = [{"draw_id": d.id, "title": d.title, "department": d.department,
                      "created_at": d.created_at.isoformat()}
                     for d in s.execute(select(Draw).where(
                         Draw.created_at >= start, Draw.created_at < start.replace(year=year + 1))
                         .order_by(Draw.id)).scalars()
                     if any(t["credit_code"] == ent.credit_code for t in d.result)]
            key_ent = domain.is_key_enterprise(ent)
            return {"enterprise": {"credit_code": ent.credit_code, "name": ent.name,
                                   "town": ent.town, "industry": ent.industry,
                                   "key_enterprise": key_ent},
                    "year": year,
                    "monthly_cap": self.rules.policy.monthly_cap if key_ent else None,
                    "inspections": [{k: i[k] for k in ("id", "kind", "status", "entry_code",
                                                       "department", "departments", "planned_date",
                                                       "items")}
                                    for i in inspections],
                    "draws": drawn, "standards": standards}
