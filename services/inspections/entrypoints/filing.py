"""Filing a visit and what happens to it: the rules that decide it at filing
(INS-1 … INS-5), the visit's actions through one ``act`` (the table in
``domain.VISIT``), reading, the emergencies' sweep and the task force's list
of emergencies and exemptions (INS-2/3/5), results (INS-8).

Filing takes the enterprise's row lock (INS-3): on PostgreSQL ``SELECT … FOR
UPDATE`` makes a second filing for the same enterprise wait until the first
has committed, and then count it; SQLite has a single writer. So two
departments filing at the same moment can never both take the last place
under the cap — whichever comes second is counted over it.
"""
import logging

from sqlalchemy import func, or_, select

from kernel.calendar import utcnow
from kernel.entrypoints import (create_once, due_ids, require_staff, scoped_key,
                                stale_is_conflict)
from kernel.errors import BadInput, Conflict, Forbidden
from kernel.rpc import rpc
from kernel.statemachine import actor_of
from kernel.timers import configurable_timer

from .. import domain, registers, schemas
from ..models import (Draw, Enterprise, Visit, VisitDepartment, VisitInspector, VisitItem)
from .base import InspectionsBase

_log = logging.getLogger(__name__)
_FILERS = ("department", "taskforce", "admin", "system")


class FilingEntrypoints(InspectionsBase):

    # -- filing a visit (INS-1 … INS-5) -----------------------------------------------------
    @rpc
    def file_inspection(self, payload):
        caller = self.caller.require()
        if caller.role not in _FILERS:
            raise Forbidden("only departments and the task force file visits")
        payload = dict(payload or {}) if isinstance(payload, dict) else payload
        if caller.role == "department" and isinstance(payload, dict):
            payload["department"] = caller.org  # a department files for itself only
        policy, profile = self.rules.policy, self.rules.profile
        data = schemas.load(schemas.InspectionIn, payload, policy=policy, caller=caller)
        dept = data["department"]
        errors = {}
        if not dept:
            errors["department"] = ["the task force names the department it files for"]
        elif dept not in profile.departments:
            errors["department"] = ["unknown department"]
        partners = data["partner_departments"]
        if any(p not in profile.departments or p == dept for p in partners):
            errors["partner_departments"] = ["unknown department, or the filing one again"]
        today = self.rules.today()
        if data["kind"] == domain.EMERGENCY and data["planned_date"] > today:
            errors["planned_date"] = ["an emergency visit is filed on or after its day (INS-5)"]
        elif data["kind"] != domain.EMERGENCY and data["planned_date"] < today:
            errors["planned_date"] = ["is in the past: a visit is filed before it is made (INS-4)"]
        if errors:
            raise BadInput(errors)
        key = scoped_key(caller, data["idempotency_key"]) if data["idempotency_key"] else None

        def create():
            with self.db.transaction() as s:
                visit = self._file(s, data, [dept] + partners, caller, key, utcnow())
                return self._out(s, visit)
        return create_once(key, self._by_key, create)

    def _file(self, s, data, departments, caller, key, now):
        policy = self.rules.policy
        kind, day = data["kind"], data["planned_date"]
        # INS-3: the enterprise's row is the lock under which its visits are counted.
        ent = s.execute(select(Enterprise).where(Enterprise.credit_code == data["enterprise_code"])
                        .with_for_update()).scalar_one_or_none()
        if ent is None:
            raise BadInput({"enterprise_code": ["not in the enterprise directory"]})
        inspectors = data["inspectors"]
        if data["draw_id"] is not None:
            inspectors = self._drawn_inspectors(s, data, departments[0], inspectors)
        inspectors = inspectors or []
        items = registers.item_infos(s, data["items"])
        item_infos = {c: domain.ItemInfo(i.code, i.department, i.name, i.active)
                      for c, i in items.items()}
        people, person_infos = registers.inspector_infos(s, inspectors)
        found_register = domain.register_violations(departments, ent.credit_code, day, data["items"],
                                                    inspectors, item_infos, person_infos)
        key_ent = domain.is_key_enterprise(ent)
        found_quiet = found_cap = []
        if kind != domain.EMERGENCY:
            found_quiet = domain.quiet_day_violations(day, data["exempt_category"], policy)
            counted = self._counted(s, ent.credit_code, domain.month_of(day)) if key_ent else 0
            found_cap = domain.cap_violations(key_ent, counted, policy)
        decision = domain.assess(kind, found_register, found_quiet, found_cap)
        over_quota = False
        if domain.is_exception(kind, data["exempt_category"]):
            over_quota = domain.beyond_monthly_exceptions(
                self._exceptions_filed(s, departments[0], domain.month_of(day)), policy)

        visit = Visit(kind=kind, status=decision.status, department=departments[0],
                      enterprise_code=ent.credit_code, enterprise_name=ent.name,
                      key_enterprise=key_ent, planned_date=day, month=domain.month_of(day),
                      exempt_category=data["exempt_category"], reason=data["reason"],
                      violations=decision.violations, draw_id=data["draw_id"],
                      over_quota=over_quota, created_by=actor_of(caller), idempotency_key=key,
                      created_at=now, updated_at=now)
        if decision.status != domain.PENDING:
            visit.decided_by, visit.decided_at = "rules", now
        if kind == domain.EMERGENCY and decision.status == domain.APPROVED:
            visit.after_due_at = domain.after_filing_due(day, self.rules.calendar, policy)
            visit.check_at = visit.after_due_at
        s.add(visit)
        s.flush()
        for d in departments:
            s.add(VisitDepartment(visit_id=visit.id, department=d))
        for code in data["items"]:
            item = items.get(code)
            s.add(VisitItem(visit_id=visit.id, item_code=code,
                            department=item.department if item else departments[0],
                            name=item.name if item else ""))
        for code in inspectors:
            person = people.get(code)
            s.add(VisitInspector(visit_id=visit.id, inspector_code=code,
                                 department=person.department if person else departments[0],
                                 name=person.name if person else "",
                                 certificate_no=person.certificate_no if person else ""))
        rules_broken = ", ".join(sorted({v["rule"] for v in decision.violations}))
        note = rules_broken + ("; over the monthly number of exceptions" if over_quota else "")
        self._history(s, visit, actor_of(caller), "file", None, note.lstrip("; "), now)
        ref = self._ref(visit, departments)
        self.outbox.add(s, "inspection.filed", {**ref, "filed_by": actor_of(caller)})
        if decision.status in (domain.APPROVED, domain.REJECTED):
            self.outbox.add(s, f"inspection.{decision.status}", {
                **ref, "decided_by": "rules", "automatic": True, "note": rules_broken or None})
        return visit

    def _exceptions_filed(self, s, department, month):
        """The department's emergencies and exemptions already filed this month
        (refused or cancelled ones too: each was a claim to skip the checks)."""
        return s.execute(select(func.count()).select_from(Visit).where(
            Visit.department == department, Visit.month == month,
            or_(Visit.kind == domain.EMERGENCY, Visit.exempt_category.is_not(None)))).scalar_one()

    def _drawn_inspectors(self, s, data, dept, given):
        """A visit to a drawn target goes with the inspectors drawn for it (INS-6)."""
        drawn = s.get(Draw, data["draw_id"])
        if drawn is None or drawn.department != dept:
            raise BadInput({"draw_id": ["no such draw of this department"]})
        target = next((t for t in drawn.result if t["credit_code"] == data["enterprise_code"]), None)
        if target is None:
            raise BadInput({"draw_id": ["the enterprise was not drawn in this draw"]})
        if given and sorted(given) != sorted(target["inspectors"]):
            raise BadInput({"inspectors": [
                f"a drawn target is visited by the inspectors drawn: {', '.join(target['inspectors'])}"]})
        return list(target["inspectors"])

    def _by_key(self, key):
        with self.db.reading() as s:
            visit = s.execute(select(Visit).where(Visit.idempotency_key == key)).scalar_one_or_none()
            return self._out(s, visit) if visit else None

    # -- the visit's actions (the table: domain.VISIT) ----------------------------------------
    @rpc
    def act(self, inspection_id, action, params=None):
        """approve / reject (the task force's head, INS-4), cancel, after-filing
        (INS-5), results (INS-8), review (the head, INS-5)."""
        caller = self.caller.require()
        if action not in schemas.VISIT_ACTION_PARAMS:
            raise BadInput({"action": [f"unknown action; one of {', '.join(schemas.VISIT_ACTION_PARAMS)}"]})
        p = schemas.load(schemas.VISIT_ACTION_PARAMS[action], params)
        now = utcnow()
        with stale_is_conflict("the visit"):
            with self.db.transaction() as s:
                visit = self._visible(s, inspection_id, caller)
                domain.VISIT.check(action, visit, caller, p, domain.visit_relation(self.rules.heads))
                getattr(self, _HANDLERS[action])(s, visit, p, caller, now)
                visit.updated_at = now
                s.flush()
                return self._out(s, visit)

    def _decide(self, s, visit, p, caller, now, status):
        before = visit.status
        visit.status = status
        visit.decided_by, visit.decided_at = actor_of(caller), now
        visit.decision_note = p.get("note")
        s.flush()
        self._history(s, visit, actor_of(caller), "approve" if status == domain.APPROVED else "reject",
                      before, p.get("note") or "", now)
        self.outbox.add(s, f"inspection.{status}", {
            **self._ref(visit, visit.departments),
            "decided_by": actor_of(caller), "automatic": False, "note": p.get("note")})

    def _approve(self, s, visit, p, caller, now):
        self._decide(s, visit, p, caller, now, domain.APPROVED)

    def _reject(self, s, visit, p, caller, now):
        self._decide(s, visit, p, caller, now, domain.REJECTED)

    def _cancel(self, s, visit, p, caller, now):
        before = visit.status
        visit.status, visit.check_at = domain.CANCELLED, None
        s.flush()
        self._history(s, visit, actor_of(caller), "cancel", before, p["reason"], now)
        self.outbox.add(s, "inspection.cancelled", {**self._ref(visit, visit.departments),
                                                    "reason": p["reason"]})

    def _after_filing(self, s, visit, p, caller, now):
        """INS-5 事毕备案: the record of an emergency visit, after the fact."""
        visit.after_filed_at, visit.after_record = now, p["record"]
        visit.check_at = None
        on_time = now <= visit.after_due_at
        self._history(s, visit, actor_of(caller), "file_after", visit.status,
                      "on time" if on_time else "late", now)
        self.outbox.add(s, "inspection.after_filed", {
            **self._ref(visit, visit.departments), "due_at": visit.after_due_at, "filed_at": now,
            "on_time": on_time})
        self._flag_if_due(s, visit, visit.departments, now)
        if p.get("findings"):
            self._record(s, visit, visit.departments, p["findings"], caller, now)

    def _results(self, s, visit, p, caller, now):
        self._record(s, visit, visit.departments, p["findings"], caller, now)

    def _review(self, s, visit, p, caller, now):
        """INS-5: the head accepts or flags an emergency's record, with a reason."""
        visit.review, visit.review_reason = p["verdict"], p["reason"]
        visit.reviewed_by, visit.reviewed_at = actor_of(caller), now
        self._history(s, visit, actor_of(caller), "review", visit.status,
                      f"{p['verdict']}: {p['reason']}", now)
        self.outbox.add(s, "inspection.reviewed", {
            **self._ref(visit, visit.departments), "verdict": p["verdict"],
            "reason": p["reason"], "reviewed_by": actor_of(caller)})

    # -- reading -----------------------------------------------------------------------------
    @rpc
    def get_inspection(self, inspection_id):
        caller = self.caller.require()
        with self.db.reading() as s:
            return self._out(s, self._visible(s, inspection_id, caller))

    @rpc
    def list_inspections(self, query=None):
        caller = self.caller.require()
        q = schemas.load(schemas.ListQuery, query)
        stmt = select(Visit)
        if caller.role == "department":
            stmt = stmt.where(Visit.id.in_(select(VisitDepartment.visit_id).where(
                VisitDepartment.department == caller.org)))
        elif caller.role == "enterprise":
            stmt = stmt.where(Visit.enterprise_code == caller.org)
        elif not caller.is_staff:
            return {"items": [], "next_cursor": None}
        if q["department"]:
            stmt = stmt.where(Visit.id.in_(select(VisitDepartment.visit_id).where(
                VisitDepartment.department == q["department"])))
        for key in ("enterprise_code", "status", "kind", "month", "draw_id"):
            if q[key]:
                stmt = stmt.where(getattr(Visit, key) == q[key])
        if q["flagged"] is True:
            stmt = stmt.where(Visit.flagged_at.is_not(None))
        elif q["flagged"] is False:
            stmt = stmt.where(Visit.flagged_at.is_(None))
        return self._page(stmt, q)

    def _page(self, stmt, q):
        if q.get("cursor"):
            stmt = stmt.where(Visit.id < q["cursor"])
        limit = q.get("limit") or 50
        with self.db.reading() as s:
            rows = s.execute(stmt.order_by(Visit.id.desc()).limit(limit + 1)).scalars().all()
            more = len(rows) > limit
            rows = rows[:limit]
            items = self._outs(s, rows, history=False)
            return {"items": items, "next_cursor": rows[-1].id if more else None}

    @rpc
    def list_exceptions(self, query=None):
        """INS-2/3/5: every emergency or exempted visit, for the task force:
        which are over the department's monthly number, which await review."""
        require_staff(self.caller)
        q = schemas.load(schemas.ExceptionsIn, query)
        stmt = select(Visit).where(or_(Visit.kind == domain.EMERGENCY,
                                       Visit.exempt_category.is_not(None)))
        if q["month"]:
            stmt = stmt.where(Visit.month == q["month"])
        if q["department"]:
            stmt = stmt.where(Visit.department == q["department"])
        if q["over_quota"] is not None:
            stmt = stmt.where(Visit.over_quota.is_(q["over_quota"]))
        if q["unreviewed"]:
            stmt = stmt.where(Visit.kind == domain.EMERGENCY, Visit.review.is_(None))
        return self._page(stmt, {"limit": 500})

    # -- emergencies (INS-5 事毕备案) -----------------------------------------------------------
    def _flag_if_due(self, s, visit, departments, now):
        reason = domain.flag_reason(visit.after_due_at, visit.after_filed_at,
                                    visit.flagged_at is not None, now)
        if reason is None:
            return False
        visit.flagged_at, visit.flag_reason, visit.check_at = now, reason, None
        self._history(s, visit, "system", "flag", visit.status, reason, now)
        self.outbox.add(s, "inspection.flagged", {
            **self._ref(visit, departments), "reason": reason, "due_at": visit.after_due_at,
            "filed_at": visit.after_filed_at})
        return True

    @configurable_timer("SWEEP_INTERVAL_SECONDS", 300)
    def sweep(self):
        """Flag the emergencies whose record is missing past its due time — once."""
        now = utcnow()
        with self.db.reading() as s:
            ids = due_ids(s, Visit.check_at, now)
        looked = 0
        for visit_id in ids:
            try:
                with stale_is_conflict("the visit"), self.db.transaction() as s:
                    visit = s.get(Visit, visit_id)
                    if visit is None or visit.check_at is None or visit.check_at > now:
                        continue  # another instance got here first
                    if not self._flag_if_due(s, visit, self._departments(s, visit.id), now):
                        visit.check_at = None
                    visit.updated_at = now
                    s.flush()  # the version column: of two instances, one wins
                    looked += 1
            except Conflict:
                _log.info("inspection %s: another instance flagged it", visit_id)
        return looked

    # -- results (INS-8 首违不罚) ----------------------------------------------------------------
    def _record(self, s, visit, departments, findings, caller, now):
        if visit.status != domain.APPROVED:
            raise Conflict(f"results are recorded for an approved visit; this one is {visit.status}")
        rows = {i.item_code: i for i in s.execute(
            select(VisitItem).where(VisitItem.visit_id == visit.id)).scalars()}
        errors = {}
        for n, f in enumerate(findings):
            row = rows.get(f["item_code"])
            if row is None:
                errors[f"findings.{n}.item_code"] = ["not an item of this visit"]
            elif caller.role == "department" and row.department != caller.org:
                errors[f"findings.{n}.item_code"] = [f"an item of {row.department}"]
            elif row.outcome is not None:
                errors[f"findings.{n}.item_code"] = ["its result is already recorded"]
        if errors:
            raise BadInput(errors)
        policy = self.rules.policy
        seen_now = {}
        for f in findings:
            row = rows[f["item_code"]]
            earlier = 0
            if f["outcome"] == domain.VIOLATION:
                code = f.get("violation_code")
                earlier = s.execute(select(func.count()).select_from(VisitItem).join(
                    Visit, Visit.id == VisitItem.visit_id).where(
                    Visit.enterprise_code == visit.enterprise_code,
                    VisitItem.violation_code == code, VisitItem.outcome == domain.VIOLATION,
                    VisitItem.recorded_at.is_not(None))).scalar_one() + seen_now.get(code, 0)
                seen_now[code] = seen_now.get(code, 0) + 1
            judged = domain.judge_finding(f["outcome"], f.get("violation_code"), f.get("severity"),
                                          earlier, policy)
            row.outcome, row.finding = f["outcome"], f.get("finding")
            row.violation_code, row.severity = f.get("violation_code"), f.get("severity")
            row.first_offence, row.penalised = judged["first_offence"], judged["penalised"]
            entry = judged["no_penalty"]
            row.no_penalty_code = entry.code if entry else None
            row.no_penalty_name = entry.name if entry else None
            row.recorded_by, row.recorded_at = actor_of(caller), now
        self._history(s, visit, actor_of(caller), "results", visit.status,
                      f"{len(findings)} finding(s)", now)
        visit.updated_at = now
        if all(r.outcome is not None for r in rows.values()):
            visit.status, visit.completed_at = domain.COMPLETED, now
            self._history(s, visit, actor_of(caller), "complete", domain.APPROVED, "", now)
            results = [{"item_code": r.item_code, "department": r.department, "outcome": r.outcome,
                        "violation_code": r.violation_code, "severity": r.severity,
                        "penalised": r.penalised, "no_penalty_code": r.no_penalty_code}
                       for r in sorted(rows.values(), key=lambda r: r.id)]
            self.outbox.add(s, "inspection.completed", {
                **self._ref(visit, departments), "results": results,
                "violations_found": sum(r["outcome"] == domain.VIOLATION for r in results),
                "not_penalised": sum(r["no_penalty_code"] is not None for r in results)})


_HANDLERS = {"approve": "_approve", "reject": "_reject", "cancel": "_cancel",
             "after-filing": "_after_filing", "results": "_results", "review": "_review"}
assert set(_HANDLERS) == set(schemas.VISIT_ACTION_PARAMS)
