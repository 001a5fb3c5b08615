"""Nameko entrypoints of the inspections service. Thin: validate with the
schema, apply the domain, commit state and events together (outbox), answer.

Filing takes the enterprise's row lock (INS-3): on PostgreSQL ``SELECT … FOR
UPDATE`` makes a second filing for the same enterprise wait until the first
has committed, and then count it; SQLite has a single writer. So two
departments filing at the same moment can never both take the last place
under the cap — whichever comes second is counted over it.
"""
import base64
import datetime as dt
import json
import logging
import secrets
from pathlib import Path
from types import SimpleNamespace

from jinja2 import Environment, FileSystemLoader, select_autoescape
from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from kernel.audit import AuditExport, AuditTrail
from kernel.calendar import WorkingCalendar, utcnow
from kernel.config import ROOT, CountyProfile, setting, setting_json
from kernel.db import Database
from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from kernel.health import AdminServer
from kernel.logs import CallIdLogging
from kernel.metrics import Metrics
from kernel.outbox import OutboxRelay
from kernel.schemas import dump
from kernel.rpc import CallerIdentity, rpc
from kernel.timers import configurable_timer

from . import codes, directory, domain, registers, schemas
from .models import (Draw, Enterprise, InspectionItem, Inspector, InspectorConflict, Visit,
                     VisitDepartment, VisitHistory, VisitInspector, VisitItem, outbox_table,
                     processed_table)

_log = logging.getLogger(__name__)
HERE = Path(__file__).parent
MIGRATIONS = HERE / "migrations"
CONFIG_DIR = ROOT / "config" / "inspections"
DEV_CODE_KEY = "qinqing-development-entry-code-key"  # never for production: set INS_CODE_KEY
_OFF = ("none", "off", "-")
_DECISION_ACTIONS = {domain.APPROVED: "approve", domain.REJECTED: "reject"}


class Rules(DependencyProvider):
    """The county's reference data, the rules' configuration, the calendar, the
    entry-code key and the public pages' templates."""

    def setup(self):
        config = self.container.config
        self.profile = CountyProfile.from_config(config)
        self.calendar = WorkingCalendar.from_dir(setting(config, "HOLIDAY_DIR"))
        d = domain.Policy()
        quiet = setting_json(config, "INS_QUIET_DAYS", list(d.quiet_days))
        self.policy = domain.Policy(
            quiet_days=(int(quiet[0]), int(quiet[1])),
            exempt_categories=setting_json(config, "INS_EXEMPT_CATEGORIES", d.exempt_categories),
            monthly_cap=int(setting(config, "INS_MONTHLY_CAP", d.monthly_cap)),
            after_filing_days=int(setting(config, "INS_AFTER_FILING_DAYS", d.after_filing_days)),
            draw_inspectors=int(setting(config, "INS_DRAW_INSPECTORS", d.draw_inspectors)),
            no_penalty=tuple(_no_penalty_list(config)),
        )
        self.heads = frozenset(setting_json(config, "INS_TASKFORCE_HEADS", []))
        self.directory_departments = frozenset(
            setting_json(config, "INS_DIRECTORY_DEPARTMENTS", ["market"]))
        key = setting(config, "INS_CODE_KEY")
        if not key:
            _log.warning("INS_CODE_KEY is not set: entry codes are signed with the development "
                         "key; set INS_CODE_KEY for any real use")
            key = DEV_CODE_KEY
        self.code_key = key.encode("utf-8")
        base = setting(config, "INS_PUBLIC_BASE_URL")
        if not base:
            address = str(config.get("WEB_SERVER_ADDRESS") or "0.0.0.0:8000")
            base = "http://" + address.replace("0.0.0.0", "127.0.0.1")
        self.public_base = base.rstrip("/")
        self.templates = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                                     autoescape=select_autoescape(["html"]))

    def start(self):
        """First start on empty registers: load the configured demo/seed files."""
        config = self.container.config
        db = next(d for d in self.container.dependencies if isinstance(d, Database))
        relay = next(d for d in self.container.dependencies if isinstance(d, OutboxRelay))
        now = utcnow()
        reg_path = setting(config, "INS_SEED_REGISTERS", str(CONFIG_DIR / "registers.json"))
        dir_path = setting(config, "INS_SEED_DIRECTORY", str(CONFIG_DIR / "directory.csv"))
        try:
            with db.store.transaction() as s:
                self._seed(s, relay, reg_path, dir_path, now)
        except IntegrityError:  # two instances started together on an empty database
            _log.info("the registers were seeded by another instance")

    def _seed(self, s, relay, reg_path, dir_path, now):
        if str(reg_path).lower() not in _OFF and registers.is_empty(s, InspectionItem) \
                and registers.is_empty(s, Inspector):
            seed = schemas.load(schemas.RegistersIn,
                                json.loads(_path(reg_path).read_text(encoding="utf-8")))
            for item in seed["items"]:
                registers.upsert_item(s, item, now)
            for person in seed["inspectors"]:
                registers.upsert_inspector(s, person, now)
            _log.info("registers seeded from %s: %d items, %d inspectors", reg_path,
                      len(seed["items"]), len(seed["inspectors"]))
        if str(dir_path).lower() not in _OFF and registers.is_empty(s, Enterprise):
            parsed = directory.parse(_path(dir_path).read_text(encoding="utf-8"),
                                     self.profile.towns)
            counts = registers.upsert_enterprises(
                s, parsed.rows, now, lambda sess, t, data: relay.stage(sess, t, data))
            for e in parsed.errors:
                _log.warning("directory seed %s line %s column %s: %s", dir_path, e["line"],
                             e["column"], e["message"])
            _log.info("directory seeded from %s: %s", dir_path, counts)

    def today(self):
        return self.calendar.local_date(utcnow())

    def get_dependency(self, worker_ctx):
        return self


def _path(value):
    """A configured file: absolute, or relative to the project's root."""
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


def _no_penalty_list(config):
    raw = setting_json(config, "INS_NO_PENALTY_LIST", None)
    if raw is None:
        path = setting(config, "INS_NO_PENALTY_FILE", str(CONFIG_DIR / "no_penalty.json"))
        raw = json.loads(_path(path).read_text(encoding="utf-8")) if _path(path).exists() else []
    out = []
    for entry in raw:
        e = schemas.load(schemas.NoPenaltyIn, entry)
        out.append(domain.NoPenaltyEntry(**e))
    return out


class InspectionsService(AuditExport):
    name = "inspections"

    db = Database(MIGRATIONS)
    outbox = OutboxRelay(outbox_table)
    rules = Rules()
    caller = CallerIdentity()
    metrics = Metrics()
    logs = CallIdLogging()
    admin = AdminServer()  # /healthz, /readyz, /metrics on ADMIN_PORT
    audit = AuditTrail()  # who wrote what, when (audit_log, append-only)
    processed_table = processed_table

    # -- filing a visit (INS-1 … INS-5) -------------------------------------------------
    @rpc
    def file_inspection(self, payload):
        caller = self.caller.require()
        if caller.role not in ("department", "taskforce", "admin", "system"):
            raise Forbidden("only departments and the task force file visits")
        payload = dict(payload or {}) if isinstance(payload, dict) else payload
        if caller.role == "department" and isinstance(payload, dict):
            payload["department"] = caller.org  # a department files for itself only
        policy, profile = self.rules.policy, self.rules.profile
        data = schemas.load(schemas.InspectionIn, payload, policy=policy)
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
        key = None
        if data["idempotency_key"]:
            key = f"{caller.role}:{caller.sub or caller.org}:{data['idempotency_key']}"
            existing = self._by_key(key, caller)
            if existing is not None:
                return existing
        now = utcnow()
        try:
            with self.db.transaction() as s:
                visit = self._file(s, data, [dept] + partners, caller, key, now)
                return self._out(s, visit)
        except IntegrityError:
            existing = self._by_key(key, caller) if key else None
            if existing is None:
                raise
            return existing  # the same key raced in twice: one visit

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

        visit = Visit(kind=kind, status=decision.status, department=departments[0],
                      enterprise_code=ent.credit_code, enterprise_name=ent.name,
                      key_enterprise=key_ent, planned_date=day, month=domain.month_of(day),
                      exempt_category=data["exempt_category"], reason=data["reason"],
                      violations=decision.violations, draw_id=data["draw_id"],
                      created_by=_actor(caller), idempotency_key=key, created_at=now, updated_at=now)
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
        self._history(s, visit, _actor(caller), "file", None, rules_broken, now)
        ref = self._ref(visit, departments)
        self.outbox.add(s, "inspection.filed", {**ref, "filed_by": _actor(caller)})
        if decision.status in (domain.APPROVED, domain.REJECTED):
            self.outbox.add(s, f"inspection.{decision.status}", {
                **ref, "decided_by": "rules", "automatic": True, "note": rules_broken or None})
        return visit

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

    def _counted(self, s, credit_code, month):
        return s.execute(select(func.count()).select_from(Visit).where(
            Visit.enterprise_code == credit_code, Visit.month == month,
            Visit.status.in_(domain.COUNTING))).scalar_one()

    def _by_key(self, key, caller):
        with self.db.reading() as s:
            visit = s.execute(select(Visit).where(Visit.idempotency_key == key)).scalar_one_or_none()
            return self._out(s, visit) if visit else None

    # -- the task force's head decides (INS-4) ---------------------------------------------
    @rpc
    def approve(self, inspection_id, note=None):
        return self._decide(inspection_id, domain.APPROVED,
                            schemas.load(schemas.DecisionIn, {"note": note} if note else {}))

    @rpc
    def reject(self, inspection_id, note=None):
        return self._decide(inspection_id, domain.REJECTED,
                            schemas.load(schemas.RejectIn, {"note": note} if note else {}))

    def _decide(self, inspection_id, status, params):
        caller = self.caller.require()
        if not domain.may_approve(caller, self.rules.heads):
            raise Forbidden("only the task force's head approves or rejects a visit")
        now = utcnow()
        try:
            with self.db.transaction() as s:
                visit = s.get(Visit, _id(inspection_id))
                if visit is None:
                    raise NotFound("no such inspection")
                if visit.status != domain.PENDING:
                    raise Conflict(f"only a visit pending approval is decided; this one is {visit.status}")
                before = visit.status
                visit.status = status
                visit.decided_by, visit.decided_at = _actor(caller), now
                visit.decision_note = params["note"]
                visit.updated_at = now
                s.flush()
                self._history(s, visit, _actor(caller), _DECISION_ACTIONS[status],
                              before, params["note"] or "", now)
                self.outbox.add(s, f"inspection.{status}", {
                    **self._ref(visit, self._departments(s, visit.id)),
                    "decided_by": _actor(caller), "automatic": False, "note": params["note"]})
                return self._out(s, visit)
        except StaleDataError:
            raise Conflict("the visit changed meanwhile; read it again")

    @rpc
    def cancel(self, inspection_id, reason=None):
        caller = self.caller.require()
        params = schemas.load(schemas.CancelIn, {"reason": reason} if reason else {})
        now = utcnow()
        try:
            with self.db.transaction() as s:
                visit = self._visible(s, inspection_id, caller)
                if not (caller.is_staff or caller.org == visit.department):
                    raise Forbidden("the filing department or the task force cancels a visit")
                if visit.status not in (domain.PENDING, domain.APPROVED):
                    raise Conflict(f"a visit {visit.status} cannot be cancelled")
                before = visit.status
                visit.status, visit.check_at, visit.updated_at = domain.CANCELLED, None, now
                s.flush()
                self._history(s, visit, _actor(caller), "cancel", before, params["reason"], now)
                self.outbox.add(s, "inspection.cancelled", {
                    **self._ref(visit, self._departments(s, visit.id)), "reason": params["reason"]})
                return self._out(s, visit)
        except StaleDataError:
            raise Conflict("the visit changed meanwhile; read it again")

    # -- reading ----------------------------------------------------------------------
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
        if q["cursor"]:
            stmt = stmt.where(Visit.id < q["cursor"])
        with self.db.reading() as s:
            rows = s.execute(stmt.order_by(Visit.id.desc()).limit(q["limit"] + 1)).scalars().all()
            more = len(rows) > q["limit"]
            rows = rows[:q["limit"]]
            items = self._outs(s, rows, history=False)
            return {"items": items, "next_cursor": rows[-1].id if more else None}

    # -- the entry code (INS-4 红绿码) ---------------------------------------------------------
    @rpc
    def entry_code(self, inspection_id, fmt="png"):
        caller = self.caller.require()
        if fmt not in ("png", "svg"):
            raise BadInput({"fmt": ["png or svg"]})
        with self.db.reading() as s:
            visit = self._visible(s, inspection_id, caller)
            visit_id, token, colour = visit.id, self._token(visit), domain.entry_code(visit.status)
        url = self._verify_url(token)
        image = codes.render(url, colour, fmt)
        return {"inspection_id": visit_id, "entry_code": colour, "format": fmt,
                "content_type": "image/png" if fmt == "png" else "image/svg+xml",
                "content_base64": base64.b64encode(image).decode("ascii"),
                "token": token, "verify_url": url}

    @rpc
    def verify_code(self, token):
        """Public: what scanning the code shows. No caller needed."""
        with self.db.reading() as s:
            return self._verification(s, token)

    @http("GET", "/verify/<string:token>")
    def verify_page(self, request, token):
        with self.db.reading() as s:
            view = self._verification(s, token)
        html = self.rules.templates.get_template("verify.html").render(
            v=view, county=self.rules.profile.name)
        return Response(html, status=200 if view["valid"] else 404,
                        mimetype="text/html", headers={"Cache-Control": "no-store"})

    def _verification(self, s, token):
        claims = codes.verify(self.rules.code_key, token)
        visit = s.get(Visit, claims.visit_id) if claims else None
        if visit is None or visit.enterprise_code != claims.enterprise_code \
                or visit.planned_date != claims.planned_date:
            return {"valid": False}
        names = self.rules.profile.departments
        departments = self._departments(s, visit.id)
        inspectors = s.execute(select(VisitInspector).where(VisitInspector.visit_id == visit.id)
                               .order_by(VisitInspector.inspector_code)).scalars().all()
        return {
            "valid": True, "inspection_id": visit.id, "entry_code": domain.entry_code(visit.status),
            "status": visit.status, "status_zh": domain.STATUSES_ZH[visit.status],
            "kind": visit.kind, "kind_zh": domain.KINDS_ZH[visit.kind],
            "enterprise_code": visit.enterprise_code, "enterprise_name": visit.enterprise_name,
            "department": visit.department,
            "department_name": names.get(visit.department, {}).get("name", visit.department),
            "departments": [names.get(d, {}).get("name", d) for d in departments],
            "planned_date": visit.planned_date.isoformat(),
            "inspectors": [{"name": p.name, "certificate_no": p.certificate_no,
                            "department": names.get(p.department, {}).get("name", p.department)}
                           for p in inspectors],
            "merged_into": visit.merged_into,
        }

    # -- emergencies (INS-5 事毕备案) ------------------------------------------------------------
    @rpc
    def file_after_the_fact(self, inspection_id, payload):
        caller = self.caller.require()
        p = schemas.load(schemas.AfterTheFactIn, payload)
        now = utcnow()
        try:
            with self.db.transaction() as s:
                visit = self._visible(s, inspection_id, caller)
                departments = self._departments(s, visit.id)
                if not (caller.is_staff or caller.org in departments):
                    raise Forbidden("the visiting department files the record")
                if visit.kind != domain.EMERGENCY:
                    raise Conflict("only an emergency visit is filed after the fact")
                if visit.status not in (domain.APPROVED, domain.COMPLETED):
                    raise Conflict(f"a visit {visit.status} is not filed after the fact")
                if visit.after_filed_at is not None:
                    raise Conflict("the record of this visit is already filed")
                visit.after_filed_at, visit.after_record = now, p["record"]
                visit.check_at, visit.updated_at = None, now
                self._history(s, visit, _actor(caller), "file_after", visit.status,
                              "on time" if now <= visit.after_due_at else "late", now)
                ref = self._ref(visit, departments)
                self.outbox.add(s, "inspection.after_filed", {
                    **ref, "due_at": visit.after_due_at, "filed_at": now,
                    "on_time": now <= visit.after_due_at})
                self._flag_if_due(s, visit, departments, now)
                if p["findings"]:
                    self._record(s, visit, departments, p["findings"], caller, now)
                s.flush()
                return self._out(s, visit)
        except StaleDataError:
            raise Conflict("the visit changed meanwhile; read it again")

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
            ids = s.execute(select(Visit.id).where(Visit.check_at <= now)
                            .order_by(Visit.check_at).limit(500)).scalars().all()
        looked = 0
        for visit_id in ids:
            try:
                with self.db.transaction() as s:
                    visit = s.get(Visit, visit_id)
                    if visit is None or visit.check_at is None or visit.check_at > now:
                        continue  # another instance got here first
                    if not self._flag_if_due(s, visit, self._departments(s, visit.id), now):
                        visit.check_at = None
                    visit.updated_at = now
                    s.flush()  # the version column: of two instances, one wins
                    looked += 1
            except StaleDataError:
                _log.info("inspection %s: another instance flagged it", visit_id)
        return looked

    # -- results (INS-8 首违不罚) ------------------------------------------------------------------
    @rpc
    def record_results(self, inspection_id, payload):
        caller = self.caller.require()
        p = schemas.load(schemas.ResultsIn, payload)
        now = utcnow()
        try:
            with self.db.transaction() as s:
                visit = self._visible(s, inspection_id, caller)
                departments = self._departments(s, visit.id)
                if not (caller.is_staff or caller.org in departments):
                    raise Forbidden("the visiting departments record the results")
                self._record(s, visit, departments, p["findings"], caller, now)
                s.flush()
                return self._out(s, visit)
        except StaleDataError:
            raise Conflict("the visit changed meanwhile; read it again")

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
                code = f["violation_code"]
                earlier = s.execute(select(func.count()).select_from(VisitItem).join(
                    Visit, Visit.id == VisitItem.visit_id).where(
                    Visit.enterprise_code == visit.enterprise_code,
                    VisitItem.violation_code == code, VisitItem.outcome == domain.VIOLATION,
                    VisitItem.recorded_at.is_not(None))).scalar_one() + seen_now.get(code, 0)
                seen_now[code] = seen_now.get(code, 0) + 1
            judged = domain.judge_finding(f["outcome"], f["violation_code"], f["severity"],
                                          earlier, policy)
            row.outcome, row.finding = f["outcome"], f["finding"]
            row.violation_code, row.severity = f["violation_code"], f["severity"]
            row.first_offence, row.penalised = judged["first_offence"], judged["penalised"]
            entry = judged["no_penalty"]
            row.no_penalty_code = entry.code if entry else None
            row.no_penalty_name = entry.name if entry else None
            row.recorded_by, row.recorded_at = _actor(caller), now
        self._history(s, visit, _actor(caller), "results", visit.status,
                      f"{len(findings)} finding(s)", now)
        visit.updated_at = now
        if all(r.outcome is not None for r in rows.values()):
            visit.status, visit.completed_at = domain.COMPLETED, now
            self._history(s, visit, _actor(caller), "complete", domain.APPROVED, "", now)
            results = [{"item_code": r.item_code, "department": r.department, "outcome": r.outcome,
                        "violation_code": r.violation_code, "severity": r.severity,
                        "penalised": r.penalised, "no_penalty_code": r.no_penalty_code}
                       for r in sorted(rows.values(), key=lambda r: r.id)]
            self.outbox.add(s, "inspection.completed", {
                **self._ref(visit, departments), "results": results,
                "violations_found": sum(r["outcome"] == domain.VIOLATION for r in results),
                "not_penalised": sum(r["no_penalty_code"] is not None for r in results)})

    # -- joint visits (INS-7 进一次门, 查多项事) -----------------------------------------------------
    @rpc
    def joint_candidates(self, query):
        self._staff_only()
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
        caller = self._staff_only()
        p = schemas.load(schemas.MergeIn, payload)
        now = utcnow()
        try:
            with self.db.transaction() as s:
                first = s.get(Visit, p["visit_ids"][0])
                if first is None:
                    raise BadInput({"visit_ids": [f"no such visit {p['visit_ids'][0]}"]})
                ent = s.execute(select(Enterprise).where(
                    Enterprise.credit_code == first.enterprise_code).with_for_update()).scalar_one()
                joint = self._merge(s, ent, p, caller, now)
                return self._out(s, joint)
        except StaleDataError:
            raise Conflict("a visit changed meanwhile; read them again")

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
        day = p["planned_date"] or visits[0].planned_date
        lead = p["lead_department"] or visits[0].department
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
                      reason=p["note"] or "; ".join(filter(None, (v.reason for v in visits))) or None,
                      violations=decision.violations, created_by=_actor(caller),
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
            self._history(s, v, _actor(caller), "merge", before, f"merged into joint visit {joint.id}", now)
        s.flush()
        self._history(s, joint, _actor(caller), "merge", None,
                      "merged from " + ", ".join(str(i) for i in ids), now)
        ref = self._ref(joint, departments)
        self.outbox.add(s, "inspection.merged", {**ref, "merged_from": ids})
        if decision.status == domain.APPROVED:
            self.outbox.add(s, "inspection.approved", {**ref, "decided_by": "rules",
                                                       "automatic": True, "note": None})
        return joint

    # -- double random, one public (INS-6 双随机一公开) -----------------------------------------------
    @rpc
    def draw(self, payload):
        caller = self.caller.require()
        if caller.role not in ("department", "taskforce", "admin", "system"):
            raise Forbidden("only departments and the task force draw")
        payload = dict(payload or {}) if isinstance(payload, dict) else payload
        if caller.role == "department" and isinstance(payload, dict):
            payload["department"] = caller.org
        p = schemas.load(schemas.DrawIn, payload)
        dept = p["department"]
        if dept not in self.rules.profile.departments:
            raise BadInput({"department": ["unknown department"]})
        now = utcnow()
        today = self.rules.today()
        with self.db.transaction() as s:
            items = registers.item_infos(s, p["item_codes"])
            wrong = [c for c in p["item_codes"] if c not in items or items[c].department != dept
                     or not items[c].active]
            if wrong:
                raise BadInput({"item_codes": [f"not on {dept}'s list: {', '.join(wrong)}"]})
            f = p["filters"]
            population = domain.filter_directory(
                s.execute(select(Enterprise)).scalars(), f.get("industry"), f.get("town"),
                f.get("size"), f.get("key_only", False))
            roster = [person.code for person in s.execute(select(Inspector).where(
                Inspector.department == dept, Inspector.active.is_(True))).scalars()
                if person.certificate_expires is None or person.certificate_expires >= today]
            conflicts = sorted([code, credit] for code, credits in
                               registers.conflicts_of(s, roster).items() for credit in credits)
            seed = p["seed"] or secrets.token_hex(16)
            try:
                result = domain.draw(seed, population, roster, {tuple(c) for c in conflicts},
                                     p["count"], self.rules.policy.draw_inspectors)
            except domain.DrawError as exc:
                raise BadInput({exc.field: [str(exc)]})
            drawn = Draw(title=p["title"], department=dept, item_codes=p["item_codes"],
                         filters={k: v for k, v in f.items() if v}, count=p["count"],
                         per_target=self.rules.policy.draw_inspectors, seed=seed,
                         candidates=population, roster=sorted(roster), conflicts=conflicts,
                         result=result, created_by=_actor(caller), created_at=now)
            s.add(drawn)
            s.flush()
            self.outbox.add(s, "inspection.drawn", {
                "draw_id": drawn.id, "department": dept, "seed": seed, "count": p["count"],
                "targets": [t["credit_code"] for t in result]})
            return self._draw_out(s, drawn)

    @rpc
    def get_draw(self, draw_id):
        """Public (一公开): no caller needed."""
        with self.db.reading() as s:
            drawn = s.get(Draw, _id(draw_id))
            if drawn is None:
                raise NotFound("no such draw")
            return self._draw_out(s, drawn)

    @rpc
    def list_draws(self, query=None):
        """Public (一公开): the latest draws, newest first."""
        q = dict(query) if isinstance(query, dict) else {}
        try:
            limit = min(max(int(q.get("limit", 50)), 1), 200)
        except (TypeError, ValueError):
            raise BadInput({"limit": ["a number from 1 to 200"]})
        with self.db.reading() as s:
            stmt = select(Draw).order_by(Draw.id.desc()).limit(limit)
            if q.get("department"):
                stmt = stmt.where(Draw.department == q["department"])
            return [{"id": d.id, "title": d.title, "department": d.department, "count": d.count,
                     "seed": d.seed, "created_at": d.created_at.isoformat(),
                     "public_url": f"{self.rules.public_base}/draws/{d.id}"}
                    for d in s.execute(stmt).scalars()]

    @rpc
    def replay_draw(self, draw_id):
        """Public: re-run a draw from its recorded seed and inputs; the result must match."""
        with self.db.reading() as s:
            drawn = s.get(Draw, _id(draw_id))
            if drawn is None:
                raise NotFound("no such draw")
            again = domain.draw(drawn.seed, drawn.candidates, drawn.roster,
                                {tuple(c) for c in drawn.conflicts}, drawn.count, drawn.per_target)
            return {"draw_id": drawn.id, "seed": drawn.seed, "matches": again == drawn.result,
                    "result": again}

    @http("GET", "/draws")
    def draws_page(self, request):
        draws = self.list_draws({"limit": 100})
        html = self.rules.templates.get_template("draws.html").render(
            draws=draws, county=self.rules.profile.name, names=self._dept_names())
        return Response(html, mimetype="text/html")

    @http("GET", "/draws/<int:draw_id>")
    def draw_page(self, request, draw_id):
        try:
            d = self.get_draw(draw_id)
        except NotFound:
            return Response("no such draw", status=404, mimetype="text/plain")
        html = self.rules.templates.get_template("draw.html").render(
            d=d, county=self.rules.profile.name, names=self._dept_names())
        return Response(html, mimetype="text/html")

    def _draw_out(self, s, drawn):
        codes_ = [t["credit_code"] for t in drawn.result]
        ents = {e.credit_code: e for e in s.execute(
            select(Enterprise).where(Enterprise.credit_code.in_(codes_))).scalars()}
        people = {p.code: p for p in s.execute(select(Inspector).where(
            Inspector.code.in_([i for t in drawn.result for i in t["inspectors"]]))).scalars()}
        visits = {}
        for v in s.execute(select(Visit).where(Visit.draw_id == drawn.id, Visit.status.in_(
                (domain.PENDING, domain.APPROVED, domain.COMPLETED))).order_by(Visit.id)).scalars():
            visits[v.enterprise_code] = v
        found = dict(s.execute(select(VisitItem.visit_id, func.count()).where(
            VisitItem.visit_id.in_([v.id for v in visits.values()]),
            VisitItem.outcome == domain.VIOLATION).group_by(VisitItem.visit_id)).all())
        targets = []
        for t in drawn.result:
            e, v = ents.get(t["credit_code"]), visits.get(t["credit_code"])
            targets.append({
                "credit_code": t["credit_code"], "enterprise_name": e.name if e else "",
                "town": e.town if e else None, "industry": e.industry if e else None,
                "inspectors": [{"code": i, "name": people[i].name if i in people else "",
                                "certificate_no": people[i].certificate_no if i in people else ""}
                               for i in t["inspectors"]],
                "inspection_id": v.id if v else None, "status": v.status if v else None,
                "violations_found": found.get(v.id, 0) if v and v.status == domain.COMPLETED else None})
        return dump(schemas.DrawOut, {
            "id": drawn.id, "title": drawn.title, "department": drawn.department,
            "item_codes": drawn.item_codes, "filters": drawn.filters, "count": drawn.count,
            "per_target": drawn.per_target, "seed": drawn.seed,
            "population": len(drawn.candidates), "roster_size": len(drawn.roster),
            "targets": targets, "created_at": drawn.created_at,
            "public_url": f"{self.rules.public_base}/draws/{drawn.id}"})

    # -- the yearly plan (INS-9) --------------------------------------------------------------------
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

    # -- registers ---------------------------------------------------------------------------------
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
        self._staff_only()
        p = schemas.load(schemas.ItemIn, payload)
        if p["department"] not in self.rules.profile.departments:
            raise BadInput({"department": ["unknown department"]})
        with self.db.transaction() as s:
            return dump(schemas.ItemOut, registers.upsert_item(s, p, utcnow()))

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
                person = registers.upsert_inspector(s, p, utcnow())
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

    # -- operations -------------------------------------------------------------------------------
    @configurable_timer("GAUGE_INTERVAL_SECONDS", 15, eager=True)
    def refresh_gauges(self):
        """Business gauges on a schedule, not per scrape (the admin port serves them)."""
        by_status = self.metrics.gauge("qinqing_inspections_visits",
                                       "Visits planned this month, by status and kind",
                                       ["status", "kind"])
        flagged = self.metrics.gauge("qinqing_inspections_flagged",
                                     "Emergency visits flagged for a late or missing record",
                                     ["department", "reason"])
        by_status.clear()
        flagged.clear()
        month = domain.month_of(self.rules.today())
        with self.db.reading() as s:
            for status, kind, n in s.execute(select(Visit.status, Visit.kind, func.count()).where(
                    Visit.month == month).group_by(Visit.status, Visit.kind)):
                by_status.labels(status, kind).set(n)
            for dept, reason, n in s.execute(select(Visit.department, Visit.flag_reason, func.count())
                                             .where(Visit.flagged_at.is_not(None))
                                             .group_by(Visit.department, Visit.flag_reason)):
                flagged.labels(dept, reason).set(n)

    @http("GET", "/healthz")
    def healthz(self, request):
        return 200, json.dumps({"status": "ok", "service": self.name})

    @rpc
    def ping(self):
        with self.db.reading() as s:
            s.execute(select(1))
        return {"service": self.name, "status": "ok"}

    # -- helpers ---------------------------------------------------------------------------------
    def _staff_only(self):
        caller = self.caller.require()
        if not caller.is_staff:
            raise Forbidden("only the task force may do this")
        return caller

    def _visible(self, s, inspection_id, caller):
        visit = s.get(Visit, _id(inspection_id))
        departments = self._departments(s, visit.id) if visit else []
        domain.check_visible(visit, departments, caller)
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
                     items=[{**{c: getattr(i, c) for c in schemas.ItemResultOut._declared_fields}}
                            for i in items.get(v.id, [])],
                     inspectors=people.get(v.id, []), merged_from=merged.get(v.id, []),
                     token=token, verify_url=self._verify_url(token),
                     history=hist.get(v.id, []))
            schema = schemas.InspectionOut() if history else schemas.InspectionOut(exclude=("history",))
            out.append(schema.dump(d))
        return out

    @staticmethod
    def _enterprise_out(ent):
        d = dump(schemas.EnterpriseOut, ent)
        d["key_enterprise"] = domain.is_key_enterprise(ent)
        return d

    @staticmethod
    def _inspector_out(s, person):
        d = dump(schemas.InspectorOut, {
            "code": person.code, "department": person.department, "name": person.name,
            "certificate_no": person.certificate_no,
            "certificate_expires": person.certificate_expires, "active": person.active,
            "updated_at": person.updated_at,
            "conflicts": s.execute(select(InspectorConflict).where(
                InspectorConflict.inspector_code == person.code)
                .order_by(InspectorConflict.credit_code)).scalars().all()})
        return d

    def _dept_names(self):
        return {c: d["name"] for c, d in self.rules.profile.departments.items()}


def _group(rows):
    out = {}
    for r in rows:
        out.setdefault(r.visit_id, []).append(r)
    return out


def _actor(caller):
    return f"{caller.role}:{caller.sub or caller.org}"


def _id(value):
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise NotFound("no such item")
    if n < 1:
        raise NotFound("no such item")
    return n
