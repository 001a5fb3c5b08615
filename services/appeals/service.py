"""Nameko entrypoints of the appeals service. Thin: validate with the schema,
apply the domain, commit state and events together (outbox), answer."""
import hashlib
import json
import logging
from pathlib import Path

from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from kernel.audit import AuditExport, AuditTrail
from kernel.calendar import WorkingCalendar, to_utc, utcnow
from kernel.config import CountyProfile, setting, setting_json
from kernel.consumers import consumes
from kernel.db import Database
from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from kernel.health import AdminServer
from kernel.logs import CallIdLogging
from kernel.metrics import Metrics
from kernel.outbox import OutboxRelay
from kernel.schemas import dump
from kernel.rpc import SYSTEM, CallerIdentity, rpc
from kernel.timers import configurable_timer

from . import domain, ledger, schemas
from .models import (Appeal, AppealHistory, Enterprise, Escalation, RectificationItem,
                     RoutingRule, outbox_table, processed_table)

_log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class Rules(DependencyProvider):
    """The county's reference data, the rules' configuration and the calendar."""

    def setup(self):
        config = self.container.config
        self.profile = CountyProfile.from_config(config)
        self.calendar = WorkingCalendar.from_dir(setting(config, "HOLIDAY_DIR"))
        defaults = domain.Policy()
        self.policy = domain.Policy(
            tier_days=setting_json(config, "APPEAL_TIER_DAYS", defaults.tier_days),
            one_tap_days=int(setting(config, "ONE_TAP_DAYS", defaults.one_tap_days)),
            ladder_offsets=setting_json(config, "ESCALATION_LADDER", defaults.ladder_offsets),
            feedback_timeout_days=int(setting(config, "FEEDBACK_TIMEOUT_DAYS",
                                              defaults.feedback_timeout_days)),
            max_extension_days=int(setting(config, "MAX_EXTENSION_DAYS", defaults.max_extension_days)),
            channel_tiers=setting_json(config, "CHANNEL_TIERS", defaults.channel_tiers),
        )

    def start(self):
        # First start on an empty database: seed the routing table from the profile.
        db = next(d for d in self.container.dependencies if isinstance(d, Database))
        try:
            with db.store.transaction() as s:
                if s.execute(select(RoutingRule.id).limit(1)).first() is None:
                    now = utcnow()
                    for r in self.profile.routing:
                        s.add(RoutingRule(category=r["category"], town=r.get("town", "*"),
                                          lead_department=r["lead"],
                                          co_departments=r.get("co", []), updated_at=now))
        except IntegrityError:
            pass  # another instance starting at the same moment seeded it

    def get_dependency(self, worker_ctx):
        return self


class AppealsService(AuditExport):
    name = "appeals"

    db = Database(MIGRATIONS)
    outbox = OutboxRelay(outbox_table)
    rules = Rules()
    caller = CallerIdentity()
    metrics = Metrics()
    logs = CallIdLogging()
    admin = AdminServer()  # /healthz, /readyz, /metrics on ADMIN_PORT
    audit = AuditTrail()  # who wrote what, when (audit_log, append-only)
    processed_table = processed_table

    # -- intake (APP-1, APP-2, APP-3, APP-4) -------------------------------------
    @rpc
    def create_appeal(self, payload):
        caller = self.caller.require()
        if caller.role not in ("enterprise", "department", "channel", "taskforce", "admin", "system"):
            raise Forbidden("this caller may not file appeals")
        payload = dict(payload or {})
        if caller.role == "enterprise":
            payload["enterprise_code"] = caller.org  # an enterprise files for itself only
        if caller.role == "channel":
            payload["channel"] = caller.org  # an integrator's key is bound to its channel
        data = schemas.load(schemas.AppealCreate, payload, profile=self.rules.profile)
        now = utcnow()
        if data["received_at"] is not None:
            if caller.role == "enterprise":
                raise BadInput({"received_at": ["only integrating channels may set it"]})
            if data["received_at"] > now:
                raise BadInput({"received_at": ["is in the future"]})
        key = None
        if data.pop("idempotency_key"):
            # scoped to the caller, hashed to a fixed width whatever the caller's ids
            key = hashlib.sha256(json.dumps(
                [caller.role, caller.sub, caller.org, payload["idempotency_key"]]).encode()).hexdigest()
            existing = self._by_key(key)
            if existing is not None:
                return existing
        try:
            with self.db.transaction() as s:
                appeal = Appeal(**{k: v for k, v in data.items() if k != "received_at"})
                appeal.received_at = to_utc(data["received_at"]) if data["received_at"] else now
                appeal.created_by = caller.sub or caller.org
                appeal.idempotency_key = key
                appeal.created_at = appeal.updated_at = now
                ent = s.get(Enterprise, appeal.enterprise_code)
                appeal.enterprise_name = ent.name if ent else None
                category = self.rules.profile.categories[appeal.category]
                effect = domain.receive(appeal, self._routes(s), category.get("default_tier"),
                                        now, self.rules.calendar, self.rules.policy, caller)
                s.add(appeal)
                s.flush()
                self._commit_effect(s, appeal, effect, now)
                return self._out(s, appeal, now)
        except IntegrityError:
            existing = self._by_key(key) if key else None
            if existing is None:
                raise
            return existing  # the same key raced in twice: one appeal

    def _by_key(self, key):
        with self.db.reading() as s:
            appeal = s.execute(select(Appeal).where(Appeal.idempotency_key == key)).scalar_one_or_none()
            return self._out(s, appeal, utcnow()) if appeal else None

    # -- reading (GW-2) -------------------------------------------------------------
    @rpc
    def get_appeal(self, appeal_id):
        caller = self.caller.require()
        with self.db.reading() as s:
            appeal = s.get(Appeal, _id(appeal_id))
            domain.check_visible(appeal, caller)
            return self._out(s, appeal, utcnow())

    @rpc
    def list_appeals(self, query=None):
        caller = self.caller.require()
        q = schemas.load(schemas.LedgerQuery, query)
        now = utcnow()
        with self.db.reading() as s:
            rows, cursor = ledger.page(s, q, caller, now)
            items = [self._out_row(a, now) for a in rows]
        return dump(schemas.AppealPage, {"items": items, "next_cursor": cursor})

    # -- the closed loop (APP-6, APP-7) ---------------------------------------------
    @rpc
    def act(self, appeal_id, action, params=None):
        caller = self.caller.require()
        if action not in schemas.ACTION_PARAMS:
            raise BadInput({"action": [f"unknown action; one of {', '.join(schemas.ACTION_PARAMS)}"]})
        p = schemas.load(schemas.ACTION_PARAMS[action], params)
        now = utcnow()
        try:
            with self.db.transaction() as s:
                appeal = s.get(Appeal, _id(appeal_id))
                effect = domain.apply(appeal, action, p, caller, now, self.rules.calendar,
                                      self.rules.policy, self.rules.profile.departments)
                s.flush()
                self._commit_effect(s, appeal, effect, now)
                return self._out(s, appeal, now)
        except StaleDataError:
            raise Conflict("the appeal changed meanwhile; read it again and retry")

    # -- the ladder (APP-4, APP-5) -------------------------------------------------
    @configurable_timer("SWEEP_INTERVAL_SECONDS", 60)
    def sweep(self):
        """Climb the ladder for the appeals that are due — only those (indexed)."""
        now = utcnow()
        batch = int(setting(self.container_config, "SWEEP_BATCH", 500))
        done = 0
        while True:
            with self.db.reading() as s:
                ids = s.execute(select(Appeal.id).where(Appeal.next_check_at <= now)
                                .order_by(Appeal.next_check_at).limit(batch)).scalars().all()
            if not ids:
                break
            for appeal_id in ids:
                done += self._sweep_one(appeal_id, now)
            if len(ids) < batch:
                break
        return done

    @property
    def container_config(self):
        return self.rules.container.config

    def _sweep_one(self, appeal_id, now):
        """One appeal, one transaction. The row's version column makes the
        update conditional: when two instances sweep at once, one wins and the
        other's update matches no row and rolls back — each step happens once."""
        cal, policy = self.rules.calendar, self.rules.policy
        try:
            with self.db.transaction() as s:
                appeal = s.get(Appeal, appeal_id)
                if appeal is None or appeal.next_check_at is None or appeal.next_check_at > now:
                    return 0  # another instance got here first
                if appeal.status == domain.REPLIED:
                    effect = domain.apply(appeal, "close_timeout", {}, SYSTEM, now, cal, policy)
                else:
                    levels = domain.due_steps(appeal, now, cal, policy)
                    if not levels:
                        appeal.next_check_at = domain.next_check(appeal, cal, policy)
                        return 0
                    effect = domain.climb(appeal, levels, now, cal, policy)
                    for level in levels:
                        s.add(Escalation(appeal_id=appeal.id, level=level,
                                         step=domain.LADDER[level - 1],
                                         department=appeal.lead_department, at=now))
                appeal.updated_at = now
                s.flush()
                self._commit_effect(s, appeal, effect, now)
                return 1
        except (StaleDataError, IntegrityError):
            _log.info("appeal %s: another instance took this step", appeal_id)
            return 0

    # -- ledger (APP-8) -----------------------------------------------------------------
    @rpc
    def export_appeals(self, query):
        caller = self.caller.require()
        q = schemas.load(schemas.ExportQuery, query)
        with self.db.reading() as s:
            return dump(schemas.ExportOut, ledger.export(s, q, caller, utcnow()))

    @rpc
    def monthly_stats(self, query):
        caller = self.caller.require()
        q = schemas.load(schemas.StatsQuery, query)
        with self.db.reading() as s:
            return dump(schemas.MonthlyStats, ledger.monthly_stats(s, q["month"], caller, utcnow()))

    @rpc
    def three_lists(self, department):
        """三张清单: task, responsibility and deadline lists of one department."""
        caller = self.caller.require()
        if department not in self.rules.profile.departments:
            raise BadInput({"department": ["unknown department"]})
        if not caller.is_staff and not (caller.role == "department" and caller.org == department):
            raise NotFound("no such department list")
        now = utcnow()
        with self.db.reading() as s:
            q = ledger.filtered({}, caller, now).where(Appeal.status.in_(domain.HANDLING))
            rows = s.execute(q).scalars().all()
            lead = [a for a in rows if a.lead_department == department]
            co = [a for a in rows if department in (a.co_departments or [])]
            items = s.execute(select(RectificationItem).where(
                RectificationItem.lead_department == department,
                RectificationItem.status == "open")).scalars().all()
            resp = [{"kind": "appeal", "id": a.id, "title": a.title, "role": "lead",
                     "lead_department": a.lead_department} for a in lead]
            resp += [{"kind": "appeal", "id": a.id, "title": a.title, "role": "co-handling",
                      "lead_department": a.lead_department} for a in co]
            resp += [{"kind": "rectification", "id": i.id, "title": i.problem[:80], "role": "lead",
                      "leader": i.responsible_leader} for i in items]
            return dump(schemas.ThreeLists, {
                "department": department,
                "tasks": [self._out_row(a, now) for a in lead],
                "responsibilities": resp,
                "deadlines": [self._out_row(a, now) for a in sorted(lead + co, key=lambda a: a.due_at)],
            })

    # -- reference and routing (APP-2) -----------------------------------------------
    @rpc
    def reference(self):
        p = self.rules.profile
        return dump(schemas.Reference, {
            "county": p.name,
            "channels": [{"code": c, "name": n} for c, n in domain.CHANNELS.items()],
            "categories": [{"code": c["code"], "name": c["name"]} for c in p.categories.values()],
            "towns": [{"code": t["code"], "name": t["name"]} for t in p.towns.values()],
            "departments": [{"code": d["code"], "name": d["name"]} for d in p.departments.values()],
            "tiers": [{"code": t, "working_days": self.rules.policy.tier_days[t]} for t in domain.TIERS],
            "statuses": list(domain.STATUSES),
            "actions": list(schemas.ACTION_PARAMS),
        })

    @rpc
    def list_routes(self):
        self.caller.require()
        with self.db.reading() as s:
            rows = s.execute(select(RoutingRule).order_by(RoutingRule.category, RoutingRule.town)).scalars()
            return [dump(schemas.RouteOut, r) for r in rows]

    @rpc
    def set_route(self, payload):
        self._staff_only()
        r = schemas.load(schemas.RouteIn, payload)
        depts = self.rules.profile.departments
        errors = {}
        if r["category"] not in self.rules.profile.categories:
            errors["category"] = ["unknown category"]
        if r["town"] != "*" and r["town"] not in self.rules.profile.towns:
            errors["town"] = ["unknown town"]
        if r["lead_department"] not in depts:
            errors["lead_department"] = ["unknown department"]
        if any(c not in depts for c in r["co_departments"]):
            errors["co_departments"] = ["unknown department"]
        if errors:
            raise BadInput(errors)
        with self.db.transaction() as s:
            row = s.execute(select(RoutingRule).where(RoutingRule.category == r["category"],
                                                      RoutingRule.town == r["town"])).scalar_one_or_none()
            if row is None:
                row = RoutingRule(category=r["category"], town=r["town"])
                s.add(row)
            row.lead_department = r["lead_department"]
            row.co_departments = r["co_departments"]
            row.updated_at = utcnow()
        return dump(schemas.RouteOut, r)

    @rpc
    def delete_route(self, category, town):
        self._staff_only()
        with self.db.transaction() as s:
            n = s.execute(delete(RoutingRule).where(RoutingRule.category == category,
                                                    RoutingRule.town == town)).rowcount
        if not n:
            raise NotFound("no such route")
        return {"deleted": n}

    # -- rectification (APP-9) ---------------------------------------------------------
    @rpc
    def create_rectification(self, payload):
        self._staff_only()
        d = schemas.load(schemas.RectificationIn, payload)
        depts = self.rules.profile.departments
        errors = {}
        if d["lead_department"] not in depts:
            errors["lead_department"] = ["unknown department"]
        if any(c not in depts for c in d["co_departments"]):
            errors["co_departments"] = ["unknown department"]
        if errors:
            raise BadInput(errors)
        now = utcnow()
        with self.db.transaction() as s:
            item = RectificationItem(**d, status="open", created_at=now)
            s.add(item)
            s.flush()
            self.outbox.add(s, "rectification.created", self._rect_event(item))
            return self._rect_out(item, now)

    @rpc
    def list_rectifications(self, query=None):
        caller = self.caller.require()
        q = schemas.load(schemas.RectificationQuery, query)
        stmt = select(RectificationItem).order_by(RectificationItem.deadline, RectificationItem.id)
        if not caller.is_staff:
            if caller.role != "department":
                return []
            stmt = stmt.where(RectificationItem.lead_department == caller.org)
        if q["department"]:
            stmt = stmt.where(RectificationItem.lead_department == q["department"])
        if q["status"]:
            stmt = stmt.where(RectificationItem.status == q["status"])
        now = utcnow()
        with self.db.reading() as s:
            return [self._rect_out(i, now) for i in s.execute(stmt).scalars()]

    @rpc
    def tick_off_rectification(self, item_id, payload):
        caller = self.caller.require()
        d = schemas.load(schemas.TickOffIn, payload)
        now = utcnow()
        with self.db.transaction() as s:
            item = s.get(RectificationItem, _id(item_id))
            if item is None or not (caller.is_staff or caller.org == item.lead_department
                                    or caller.org in item.co_departments):
                raise NotFound("no such rectification item")
            domain.tick_off(item, caller, d["note"], now)
            self.outbox.add(s, "rectification.closed", self._rect_event(item))
            return self._rect_out(item, now)

    # -- what other services tell us -----------------------------------------------------
    @consumes("inspections", "enterprise.upserted")
    def on_enterprise_upserted(self, session, data, envelope):
        ent = session.get(Enterprise, data["credit_code"]) or Enterprise(credit_code=data["credit_code"])
        ent.name = data["name"]
        ent.town = data.get("town")
        ent.industry = data.get("industry")
        ent.key_enterprise = bool(data["above_scale"] or data["key_investment"] or data["key_project"])
        ent.updated_at = utcnow()
        session.add(ent)

    # -- operations --------------------------------------------------------------------
    @configurable_timer("GAUGE_INTERVAL_SECONDS", 15, eager=True)
    def refresh_gauges(self):
        """Business gauges on a schedule, not per scrape (the admin port serves them)."""
        gauge_open = self.metrics.gauge("qinqing_appeals_open", "Appeals being handled",
                                        ["tier", "department"])
        gauge_overdue = self.metrics.gauge("qinqing_appeals_overdue", "Appeals past their deadline",
                                           ["tier", "department"])
        with self.db.reading() as s:
            counts = ledger.open_counts(s, utcnow())
        gauge_open.clear()
        gauge_overdue.clear()
        for tier, dept, n_open, n_overdue in counts:
            gauge_open.labels(tier, dept).set(n_open)
            gauge_overdue.labels(tier, dept).set(n_overdue)

    @http("GET", "/healthz")
    def healthz(self, request):
        return 200, json.dumps({"status": "ok", "service": self.name})

    @rpc
    def ping(self):
        with self.db.reading() as s:
            s.execute(select(1))
        return {"service": self.name, "status": "ok"}

    # -- helpers ---------------------------------------------------------------------
    def _staff_only(self):
        caller = self.caller.require()
        if not caller.is_staff:
            raise Forbidden("only the task force may do this")
        return caller

    def _routes(self, s):
        return [domain.Route(r.category, r.town, r.lead_department, tuple(r.co_departments or ()))
                for r in s.execute(select(RoutingRule)).scalars()]

    def _commit_effect(self, s, appeal, effect, now):
        for h in effect.history:
            s.add(AppealHistory(appeal_id=appeal.id, at=now, **h))
        base = self._event_base(appeal)
        self.outbox.add_many(s, [(event_type, {**base, **extra})
                                 for event_type, extra in effect.events])

    @staticmethod
    def _event_base(appeal):
        return {"appeal_id": appeal.id, "status": appeal.status, "tier": appeal.tier,
                "channel": appeal.channel, "category": appeal.category,
                "enterprise_code": appeal.enterprise_code, "lead_department": appeal.lead_department,
                "co_departments": list(appeal.co_departments or []), "due_at": appeal.due_at}

    def _out_row(self, appeal, now):
        level = appeal.escalation_level or 0
        d = {c: getattr(appeal, c) for c in schemas.AppealOut._declared_fields
             if hasattr(appeal, c) and c != "history"}
        d["overdue"] = domain.is_overdue(appeal, now)
        d["escalation_step"] = domain.LADDER[level - 1] if level else None
        return d

    def _out(self, s, appeal, now):
        d = self._out_row(appeal, now)
        d["history"] = s.execute(select(AppealHistory).where(AppealHistory.appeal_id == appeal.id)
                                 .order_by(AppealHistory.id)).scalars().all()
        return dump(schemas.AppealOut, d)

    @staticmethod
    def _rect_event(item):
        return {"item_id": item.id, "status": item.status, "lead_department": item.lead_department,
                "deadline": item.deadline}

    @staticmethod
    def _rect_out(item, now):
        d = dump(schemas.RectificationOut, item)
        d["overdue"] = item.status == "open" and domain.calendar_date_le(now, item.deadline) is False
        return d


def _id(value):
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise NotFound("no such item")
    if n < 1:
        raise NotFound("no such item")
    return n
