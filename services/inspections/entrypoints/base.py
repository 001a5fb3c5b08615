"""What every entrypoint module of the inspections service shares: its
dependencies and the reading and writing of a visit."""
from pathlib import Path

from sqlalchemy import func, select

from kernel.entrypoints import object_id, service_dependencies
from kernel.schemas import dump

from .. import codes, domain, schemas
from ..dependencies import Rules
from ..models import (InspectorConflict, Visit, VisitDepartment, VisitHistory,
                      VisitInspector, VisitItem, outbox_table, processed_table)

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


class InspectionsBase(service_dependencies(MIGRATIONS, outbox_table, processed_table)):
    rules = Rules()

    # -- a visit ---------------------------------------------------------------------------
    def _visible(self, s, inspection_id, caller):
        """The visit with its ``departments``, if the caller may see it; else 404."""
        visit = s.get(Visit, object_id(inspection_id))
        departments = self._departments(s, visit.id) if visit else []
        domain.check_visible(visit, departments, caller)
        visit.departments = departments
        return visit

    @staticmethod
    def _departments(s, visit_id):
        return sorted(s.execute(select(VisitDepartment.department).where(
            VisitDepartment.visit_id == visit_id)).scalars())

    @staticmethod
    def _history(s, visit, actor, action, from_status, note, now):
        s.add(VisitHistory(visit_id=visit.id, at=now, actor=actor, action=action,
                           from_status=from_status, to_status=visit.status, note=note or ""))

    @staticmethod
    def _ref(visit, departments):
        return {"inspection_id": visit.id, "kind": visit.kind, "status": visit.status,
                "entry_code": domain.entry_code(visit.status), "department": visit.department,
                "departments": list(departments), "enterprise_code": visit.enterprise_code,
                "key_enterprise": visit.key_enterprise, "planned_date": visit.planned_date,
                "violations": list(visit.violations or [])}

    def _counted(self, s, credit_code, month):
        return s.execute(select(func.count()).select_from(Visit).where(
            Visit.enterprise_code == credit_code, Visit.month == month,
            Visit.status.in_(domain.COUNTING))).scalar_one()

    def _token(self, visit):
        return codes.sign(self.rules.code_key, visit.id, visit.enterprise_code, visit.planned_date)

    def _verify_url(self, token):
        return f"{self.rules.public_base}/verify/{token}"

    def _out(self, s, visit):
        return self._outs(s, [visit], history=True)[0]

    def _outs(self, s, visits, history):
        ids = [v.id for v in visits]
        if not ids:
            return []
        by = lambda model, order: _group(s.execute(  # noqa: E731
            select(model).where(model.visit_id.in_(ids)).order_by(*order)).scalars())
        items = by(VisitItem, (VisitItem.id,))
        people = by(VisitInspector, (VisitInspector.inspector_code,))
        depts = by(VisitDepartment, (VisitDepartment.department,))
        hist = by(VisitHistory, (VisitHistory.id,)) if history else {}
        merged = {}
        for vid, into in s.execute(select(Visit.id, Visit.merged_into).where(
                Visit.merged_into.in_(ids)).order_by(Visit.id)):
            merged.setdefault(into, []).append(vid)
        out = []
        for v in visits:
            d = {c: getattr(v, c) for c in schemas.InspectionOut._declared_fields if hasattr(v, c)}
            token = self._token(v)
            d.update(entry_code=domain.entry_code(v.status),
                     departments=[x.department for x in depts.get(v.id, [])],
                     items=[{**{c: getattr(i, c) for c in schemas.ItemResult._declared_fields}}
                            for i in items.get(v.id, [])],
                     inspectors=people.get(v.id, []), merged_from=merged.get(v.id, []),
                     token=token, verify_url=self._verify_url(token),
                     history=hist.get(v.id, []))
            schema = schemas.InspectionOut() if history else schemas.InspectionOut(exclude=("history",))
            out.append(schema.dump(d))
        return out

    # -- the registers ---------------------------------------------------------------------
    @staticmethod
    def _enterprise_out(ent):
        d = dump(schemas.EnterpriseOut, ent)
        d["key_enterprise"] = domain.is_key_enterprise(ent)
        return d

    @staticmethod
    def _inspector_out(s, person):
        return dump(schemas.InspectorOut, {
            "code": person.code, "department": person.department, "name": person.name,
            "certificate_no": person.certificate_no,
            "certificate_expires": person.certificate_expires, "active": person.active,
            "updated_at": person.updated_at,
            "conflicts": s.execute(select(InspectorConflict).where(
                InspectorConflict.inspector_code == person.code)
                .order_by(InspectorConflict.credit_code)).scalars().all()})



def _group(rows):
    out = {}
    for r in rows:
        out.setdefault(r.visit_id, []).append(r)
    return out
