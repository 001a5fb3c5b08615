"""Joint visits (INS-7 进一次门, 查多项事): visits of several departments to one
enterprise in a month, merged into one visit counted once toward the cap."""
from types import SimpleNamespace

from sqlalchemy import select

from kernel.calendar import utcnow
from kernel.entrypoints import require_staff, stale_is_conflict
from kernel.errors import BadInput
from kernel.rpc import rpc
from kernel.statemachine import actor_of

from .. import domain, schemas
from ..models import Enterprise, Visit, VisitDepartment, VisitInspector, VisitItem
from .base import InspectionsBase


class JointEntrypoints(InspectionsBase):

    @rpc
    def joint_candidates(self, query):
        require_staff(self.caller)
        q = schemas.load(schemas.MonthQuery, query)
        stmt = select(Visit).where(Visit.month == q["month"], Visit.status.in_(domain.MERGEABLE),
                                   Visit.kind != domain.EMERGENCY)
        if q["enterprise_code"]:
            stmt = stmt.where(Visit.enterprise_code == q["enterprise_code"])
        groups = {}
        with self.db.reading() as s:
            for v in s.execute(stmt.order_by(Visit.planned_date, Visit.id)).scalars():
                groups.setdefault(v.enterprise_code, []).append(
                    SimpleNamespace(**{c: getattr(v, c) for c in (
                        "id", "department", "kind", "status", "planned_date", "enterprise_name",
                        "key_enterprise")}))
        out = []
        for code, visits in sorted(groups.items()):
            depts = sorted({v.department for v in visits})
            if len(depts) < 2:
                continue
            out.append({"enterprise_code": code, "enterprise_name": visits[0].enterprise_name,
                        "key_enterprise": visits[0].key_enterprise, "month": q["month"],
                        "departments": depts,
                        "visits": [{"id": v.id, "department": v.department, "kind": v.kind,
                                    "status": v.status, "planned_date": v.planned_date.isoformat()}
                                   for v in visits]})
        return out

    @rpc
    def merge_joint(self, payload):
        caller = require_staff(self.caller)
        p = schemas.load(schemas.JointMerge, payload)
        now = utcnow()
        with stale_is_conflict("a visit"), self.db.transaction() as s:
            first = s.get(Visit, p["visit_ids"][0])
            if first is None:
                raise BadInput({"visit_ids": [f"no such visit {p['visit_ids'][0]}"]})
            ent = s.execute(select(Enterprise).where(
                Enterprise.credit_code == first.enterprise_code).with_for_update()).scalar_one()
            joint = self._merge(s, ent, p, caller, now)
            return self._out(s, joint)

    def _merge(self, s, ent, p, caller, now):
        visits = []
        for visit_id in p["visit_ids"]:
            v = s.get(Visit, visit_id)
            if v is None:
                raise BadInput({"visit_ids": [f"no such visit {visit_id}"]})
            s.refresh(v)  # read under the enterprise's lock
            visits.append(v)
        problems = []
        if len({v.enterprise_code for v in visits}) > 1:
            problems.append("the visits are to different enterprises")
        if len({v.month for v in visits}) > 1:
            problems.append("the visits are in different months")
        for v in visits:
            if v.status not in domain.MERGEABLE or v.kind == domain.EMERGENCY:
                problems.append(f"visit {v.id} is {v.status} ({v.kind}); only planned visits merge")
        if len({v.department for v in visits}) < 2:
            problems.append("a joint visit brings together at least two departments")
        if problems:
            raise BadInput({"visit_ids": problems})
        visits.sort(key=lambda v: (v.planned_date, v.id))
        day = p.get("planned_date") or visits[0].planned_date
        lead = p.get("lead_department") or visits[0].department
        errors = {}
        if domain.month_of(day) != visits[0].month:
            errors["planned_date"] = ["the joint visit stays in the month of the visits it merges"]
        elif day < self.rules.today():
            errors["planned_date"] = ["is in the past"]
        ids = [v.id for v in visits]
        departments = sorted({d for d in s.execute(select(VisitDepartment.department).where(
            VisitDepartment.visit_id.in_(ids))).scalars()})
        if lead not in departments:
            errors["lead_department"] = ["must be one of the merged visits' departments"]
        if errors:
            raise BadInput(errors)
        policy = self.rules.policy
        exempts = {v.exempt_category for v in visits}
        exempt = exempts.pop() if len(exempts) == 1 else None
        found_quiet = domain.quiet_day_violations(day, exempt, policy)
        counted = self._counted(s, ent.credit_code, visits[0].month) - len(visits)
        found_cap = domain.cap_violations(domain.is_key_enterprise(ent), counted, policy)
        decision = domain.assess(domain.JOINT, [], found_quiet, found_cap)
        joint = Visit(kind=domain.JOINT, status=decision.status, department=lead,
                      enterprise_code=ent.credit_code, enterprise_name=ent.name,
                      key_enterprise=domain.is_key_enterprise(ent), planned_date=day,
                      month=domain.month_of(day), exempt_category=exempt,
                      reason=p.get("note") or "; ".join(filter(None, (v.reason for v in visits))) or None,
                      violations=decision.violations, created_by=actor_of(caller),
                      created_at=now, updated_at=now)
        if decision.status == domain.APPROVED:
            joint.decided_by, joint.decided_at = "rules", now
        s.add(joint)
        s.flush()
        for d in departments:
            s.add(VisitDepartment(visit_id=joint.id, department=d))
        seen_items, seen_people = set(), set()
        for v in visits:
            for i in s.execute(select(VisitItem).where(VisitItem.visit_id == v.id)).scalars():
                if i.item_code not in seen_items:
                    seen_items.add(i.item_code)
                    s.add(VisitItem(visit_id=joint.id, item_code=i.item_code,
                                    department=i.department, name=i.name))
            for person in s.execute(select(VisitInspector).where(VisitInspector.visit_id == v.id)).scalars():
                if person.inspector_code not in seen_people:
                    seen_people.add(person.inspector_code)
                    s.add(VisitInspector(visit_id=joint.id, inspector_code=person.inspector_code,
                                         department=person.department, name=person.name,
                                         certificate_no=person.certificate_no))
            before = v.status
            v.status, v.merged_into, v.updated_at = domain.MERGED, joint.id, now
            self._history(s, v, actor_of(caller), "merge", before, f"merged into joint visit {joint.id}", now)
        s.flush()
        self._history(s, joint, actor_of(caller), "merge", None,
                      "merged from " + ", ".join(str(i) for i in ids), now)
        ref = self._ref(joint, departments)
        self.outbox.add(s, "inspection.merged", {**ref, "merged_from": ids})
        if decision.status == domain.APPROVED:
            self.outbox.add(s, "inspection.approved", {**ref, "decided_by": "rules",
                                                       "automatic": True, "note": None})
        return joint
