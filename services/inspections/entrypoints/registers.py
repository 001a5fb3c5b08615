"""The registers (INS-1 三个全覆盖): the county's inspection items, the
inspectors' roster, and the enterprise directory imported from the
market-regulation registry's CSV export; the service's reference data."""
import logging

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from kernel.calendar import utcnow
from kernel.entrypoints import require_staff
from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from kernel.rpc import rpc
from kernel.schemas import dump
from kernel.statemachine import actor_of

from .. import directory, domain, registers, schemas
from ..models import Enterprise, InspectionItem, Inspector, RegisterChange
from .base import InspectionsBase

_log = logging.getLogger(__name__)


class RegisterEntrypoints(InspectionsBase):

    @rpc
    def import_directory(self, csv_text):
        """The market-regulation registry's CSV export → the enterprise directory."""
        caller = self.caller.require()
        if not (caller.is_staff or (caller.role == "department"
                                    and caller.org in self.rules.directory_departments)):
            raise Forbidden("the task force or the market-regulation department imports the directory")
        p = schemas.load(schemas.ImportIn, {"csv_text": csv_text} if csv_text is not None else {})
        try:
            parsed = directory.parse(p["csv_text"], self.rules.profile.towns)
        except directory.HeaderError as exc:
            raise BadInput({"csv_text": [str(exc)]})
        now = utcnow()
        try:
            with self.db.transaction() as s:
                counts = registers.upsert_enterprises(s, parsed.rows, now, self.outbox.add)
        except IntegrityError:
            raise Conflict("another import added the same enterprises meanwhile; import again")
        report = {"rows": parsed.total, "loaded": len(parsed.rows),
                  "rejected": len({e["line"] for e in parsed.errors}), **counts,
                  "errors": parsed.errors}
        _log.info("directory import: %d rows, %d created, %d updated, %d rejected",
                  report["rows"], report["created"], report["updated"], report["rejected"])
        return report

    @rpc
    def get_enterprise(self, credit_code):
        caller = self.caller.require()
        if caller.role == "enterprise" and caller.org != credit_code:
            raise NotFound("no such enterprise")
        if caller.role == "channel":
            raise NotFound("no such enterprise")
        with self.db.reading() as s:
            ent = s.get(Enterprise, credit_code) if isinstance(credit_code, str) else None
            if ent is None:
                raise NotFound("no such enterprise")
            return self._enterprise_out(ent)

    @rpc
    def list_enterprises(self, query=None):
        caller = self.caller.require()
        if caller.role not in ("department", "taskforce", "admin", "system"):
            raise Forbidden("the directory is for departments and the task force")
        q = schemas.load(schemas.DirectoryQuery, query)
        stmt = select(Enterprise).order_by(Enterprise.credit_code)
        if q["town"]:
            stmt = stmt.where(Enterprise.town == q["town"])
        if q["industry"]:
            stmt = stmt.where(Enterprise.industry == q["industry"])
        if q["key_only"]:
            stmt = stmt.where(or_(Enterprise.above_scale, Enterprise.key_investment,
                                  Enterprise.key_project))
        if q["cursor"]:
            stmt = stmt.where(Enterprise.credit_code > q["cursor"])
        with self.db.reading() as s:
            rows = s.execute(stmt.limit(q["limit"] + 1)).scalars().all()
            more = len(rows) > q["limit"]
            rows = rows[:q["limit"]]
            return {"items": [self._enterprise_out(e) for e in rows],
                    "next_cursor": rows[-1].credit_code if more else None}

    @rpc
    def list_items(self, department=None):
        self.caller.require()
        stmt = select(InspectionItem).order_by(InspectionItem.department, InspectionItem.code)
        if department:
            stmt = stmt.where(InspectionItem.department == department)
        with self.db.reading() as s:
            return [dump(schemas.ItemOut, i) for i in s.execute(stmt).scalars()]

    @rpc
    def upsert_item(self, payload):
        caller = require_staff(self.caller)
        p = schemas.load(schemas.ItemIn, payload)
        if p["department"] not in self.rules.profile.departments:
            raise BadInput({"department": ["unknown department"]})
        with self.db.transaction() as s:
            return dump(schemas.ItemOut, registers.upsert_item(s, p, utcnow(), actor_of(caller)))

    @rpc
    def register_history(self, query=None):
        """INS-1: the changes to the items and the roster, newest first; a
        department sees its own, the task force any."""
        caller = self.caller.require()
        q = schemas.load(schemas.RegisterHistoryQuery, query)
        department = q["department"]
        if caller.role == "department":
            if department not in (None, caller.org):
                raise NotFound("no such register")
            department = caller.org
        elif not caller.is_staff:
            raise Forbidden("the registers' history is for departments and the task force")
        stmt = select(RegisterChange).order_by(RegisterChange.id.desc()).limit(q["limit"] + 1)
        if department:
            stmt = stmt.where(RegisterChange.department == department)
        for key in ("register", "code"):
            if q[key]:
                stmt = stmt.where(getattr(RegisterChange, key) == q[key])
        if q["cursor"]:
            stmt = stmt.where(RegisterChange.id < q["cursor"])
        with self.db.reading() as s:
            rows = s.execute(stmt).scalars().all()
            more = len(rows) > q["limit"]
            rows = rows[:q["limit"]]
            return {"items": [dump(schemas.RegisterChangeOut, r) for r in rows],
                    "next_cursor": rows[-1].id if more else None}

    @rpc
    def list_inspectors(self, department=None):
        caller = self.caller.require()
        if caller.role == "department":
            department = caller.org  # a department sees its own roster
        elif not caller.is_staff:
            raise Forbidden("the roster is for departments and the task force")
        stmt = select(Inspector).order_by(Inspector.department, Inspector.code)
        if department:
            stmt = stmt.where(Inspector.department == department)
        with self.db.reading() as s:
            people = s.execute(stmt).scalars().all()
            return [self._inspector_out(s, p) for p in people]

    @rpc
    def upsert_inspector(self, payload):
        caller = self.caller.require()
        p = schemas.load(schemas.InspectorIn, payload)
        if not (caller.is_staff or (caller.role == "department" and caller.org == p["department"])):
            raise Forbidden("a department keeps its own roster")
        if p["department"] not in self.rules.profile.departments:
            raise BadInput({"department": ["unknown department"]})
        try:
            with self.db.transaction() as s:
                existing = s.get(Inspector, p["code"])
                if existing is not None and not caller.is_staff and existing.department != caller.org:
                    raise Forbidden("a department keeps its own roster")
                person = registers.upsert_inspector(s, p, utcnow(), actor_of(caller))
                s.flush()
                return self._inspector_out(s, person)
        except IntegrityError:
            raise BadInput({"certificate_no": ["another inspector holds this certificate"]})

    @rpc
    def reference(self):
        policy, profile = self.rules.policy, self.rules.profile
        return {
            "county": profile.name,
            "kinds": [{"code": k, "name": domain.KINDS_ZH[k]} for k in domain.KINDS],
            "statuses": [{"code": s, "name": domain.STATUSES_ZH[s]} for s in domain.STATUSES],
            "quiet_days": list(policy.quiet_days),
            "exempt_categories": [{"code": c, "name": n} for c, n in policy.exempt_categories.items()],
            "monthly_cap": policy.monthly_cap,
            "after_filing_working_days": policy.after_filing_days,
            "draw_inspectors": policy.draw_inspectors,
            "sizes": [{"code": c, "name": domain.SIZES_ZH[c]} for c in domain.SIZES],
            "severities": list(domain.SEVERITIES),
            "no_penalty_list": [{"code": e.code, "violation_code": e.violation_code, "name": e.name,
                                 "department": e.department} for e in policy.no_penalty],
            "directory_columns": {f: list(aliases) for f, aliases in directory.COLUMNS.items()},
        }
