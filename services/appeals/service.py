"""Nameko entrypoints of the appeals service. Thin: validate with the schema,
apply the domain, commit state and events together (outbox), answer."""
import base64
import logging
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import and_, bindparam, case, delete, literal, or_, select, update
from sqlalchemy.orm.exc import StaleDataError

from kernel.audit import note_changes
from kernel.calendar import to_utc, utcnow
from kernel.config import setting, setting_json
from kernel.consumers import consumes
from kernel.entrypoints import (create_once, object_id, read_one, require_staff, scoped_key,
                                service_dependencies, stale_is_conflict)
from kernel.exports import export_dir
from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from kernel.schemas import dump
from kernel.rpc import SYSTEM, rpc
from kernel.rules import CountyRules
from kernel.timers import configurable_timer

from . import domain, exports, ledger, schemas
from .models import (Appeal, AppealCoDepartment, AppealHistory, Enterprise, Escalation, RectificationItem,
                     RectificationList, RouteChange, RoutingRule, outbox_table, processed_table)

_log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class Rules(CountyRules):
    """The county's reference data, the rules' configuration and the calendar."""

    def configure(self, config):
        defaults = domain.Policy()
        self.policy = domain.Policy(
            tier_days=setting_json(config, "APPEAL_TIER_DAYS", defaults.tier_days),
            one_tap_days=int(setting(config, "ONE_TAP_DAYS", defaults.one_tap_days)),
            ladder_offsets=setting_json(config, "ESCALATION_LADDER", defaults.ladder_offsets),
            feedback_timeout_days=int(setting(config, "FEEDBACK_TIMEOUT_DAYS",
                                              defaults.feedback_timeout_days)),
            max_extension_days=int(setting(config, "MAX_EXTENSION_DAYS", defaults.max_extension_days)),
            channel_tiers=setting_json(config, "CHANNEL_TIERS", defaults.channel_tiers),
            channels_by_role=setting_json(config, "CHANNELS_BY_ROLE", defaults.channels_by_role),
            backdating_channels=tuple(setting_json(config, "BACKDATING_CHANNELS",
                                                   defaults.backdating_channels)),
            received_at_max_days=int(setting(config, "RECEIVED_AT_MAX_DAYS",
                                             defaults.received_at_max_days)),
            sweep_retry_seconds=int(setting(config, "SWEEP_RETRY_SECONDS",
                                            defaults.sweep_retry_seconds)),
            sweep_retry_max_seconds=int(setting(config, "SWEEP_RETRY_MAX_SECONDS",
                                                defaults.sweep_retry_max_seconds)),
        )

    def seed(self, s):
        # First start on an empty database: the routing table from the profile.
        if s.execute(select(RoutingRule.id).limit(1)).first() is None:
            now = utcnow()
            for r in self.profile.routing:
                s.add(RoutingRule(category=r["category"], town=r.get("town", "*"),
                                  lead_department=r["lead"],
                                  co_departments=r.get("co", []), updated_at=now))


class AppealsService(service_dependencies(MIGRATIONS, outbox_table, processed_table)):
    name = "appeals"

    rules = Rules()

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
            # an integrator's key is bound to its channel: the platform records that one
            payload["channel"] = caller.org
        data = schemas.load(schemas.AppealIn, payload, profile=self.rules.profile, caller=caller)
        now = utcnow()
        domain.check_intake(data["channel"], data["received_at"], caller, now, self.rules.policy)
        raw_key = data.pop("idempotency_key")
        key = scoped_key(caller, raw_key) if raw_key else None

        def create():
            # Plain rows and Core statements: the appeal is new, so there is
            # nothing for the ORM's unit of work to track; four INSERTs (the
            # appeal with RETURNING, its co-handlers, its history, its events)
            # and the answer built from what was written, not read back.
            with self.db.transaction() as s:
                c = s.connection()  # Core on the session's connection: no ORM execution
                row = {k: v for k, v in data.items() if k != "received_at"}
                row["received_at"] = to_utc(data["received_at"]) if data["received_at"] else now
                row["created_by"] = caller.sub or caller.org
                row["idempotency_key"] = key
                row["created_at"] = row["updated_at"] = now
                appeal = SimpleNamespace(**row, enterprise_name=None)
                category = self.rules.profile.categories[appeal.category]
                effect = domain.receive(appeal, self._routes(c, appeal.category),
                                        category.get("default_tier"), now, self.rules.calendar,
                                        self.rules.policy, caller)
                row = vars(appeal)
                co = row.pop("co_departments")
                del row["enterprise_name"]  # looked up by the INSERT itself
                row["version"] = 1  # the ORM's version counter starts there
                row["known_enterprise"] = row["enterprise_code"]
                stored = c.execute(_INSERT_APPEAL, row).one()._asdict()
                appeal = SimpleNamespace(**stored, co_departments=co)
                note_changes(s, Appeal.__tablename__, "insert", [appeal.id])
                if co:
                    c.execute(AppealCoDepartment.__table__.insert(),
                              [{"appeal_id": appeal.id, "department": d} for d in co])
                    note_changes(s, AppealCoDepartment.__tablename__, "insert")
                history = [{"appeal_id": appeal.id, "at": now, **h} for h in effect.history]
                c.execute(AppealHistory.__table__.insert(), history)
                note_changes(s, AppealHistory.__tablename__, "insert")
                base = self._event_base(appeal)
                self.outbox.add_many(s, [(t, {**base, **extra}) for t, extra in effect.events])
                out = self._out_row(appeal, now)
                out["history"] = history  # the new appeal's whole history, in order
                return dump(schemas.AppealOut, out)
        return create_once(key, self._by_key, create)

    def _by_key(self, key):
        with self.db.reading() as s:
            appeal = s.execute(select(Appeal).where(Appeal.idempotency_key == key)).scalar_one_or_none()
            return self._out(s, appeal, utcnow()) if appeal else None

    # -- reading (GW-2) -------------------------------------------------------------
    @rpc
    def get_appeal(self, appeal_id):
        caller = self.caller.require()
        return read_one(self.db, Appeal, appeal_id, "appeal",
                        lambda s, appeal: self._out(s, appeal, utcnow()),
                        check=lambda appeal: domain.check_visible(appeal, caller))

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
        with stale_is_conflict("the appeal"), self.db.transaction() as s:
            appeal = s.get(Appeal, object_id(appeal_id))
            effect = domain.apply(appeal, action, p, caller, now, self.rules.calendar,
                                  self.rules.policy, self.rules.profile.departments)
            s.flush()
            self._commit_effect(s, appeal, effect, now)
            return self._out(s, appeal, now)

    # -- the ladder (APP-4, APP-5) -------------------------------------------------
    @configurable_timer("SWEEP_INTERVAL_SECONDS", 60)
    def sweep(self):
        """Climb the ladder for the appeals that are due — only those (indexed).
        Pages of ``SWEEP_BATCH`` due appeals in keyset order (next_check_at, id);
        each page is computed in memory and written in one transaction (bulk
        history and escalation rows, one outbox INSERT). A page that fails as a
        whole is done again one appeal per transaction, which isolates a
        broken row and a lost race exactly as before."""
        now = utcnow()
        batch = int(setting(self.container_config, "SWEEP_BATCH", 500))
        done = 0
        after = None  # the last (next_check_at, id) of the previous page
        while True:
            ids, after, swept = self._sweep_page(now, batch, after)
            if swept is None:  # the page as a whole failed: one by one
                swept = sum(self._sweep_one(appeal_id, now) for appeal_id in ids)
            done += swept
            if len(ids) < batch:
                break
        return done

    def _due_page(self, s, now, batch, after):
        """The next page of due appeals as plain objects (Core rows and their
        co-handlers: nothing for the ORM to track), locked for this transaction."""
        t = Appeal.__table__
        q = select(t).where(t.c.next_check_at <= now)
        if after is not None:
            at, last_id = after
            q = q.where(or_(t.c.next_check_at > at,
                            and_(t.c.next_check_at == at, t.c.id > last_id)))
        q = q.order_by(t.c.next_check_at, t.c.id).limit(batch)
        c = s.connection()
        if c.dialect.name == "postgresql":
            # rows another instance is sweeping right now are its own: skip
            # them (on SQLite, BEGIN IMMEDIATE already serialises sweeps)
            q = q.with_for_update(skip_locked=True, of=t)
        appeals = [SimpleNamespace(**r._asdict(), co_departments=[]) for r in c.execute(q)]
        if appeals:
            by_id = {a.id: a for a in appeals}
            co = AppealCoDepartment.__table__.c
            for appeal_id, department in c.execute(
                    select(co.appeal_id, co.department).where(co.appeal_id.in_(list(by_id)))
                    .order_by(co.id)):
                by_id[appeal_id].co_departments.append(department)
        return appeals

    def _sweep_page(self, now, batch, after):
        """One page in one transaction; returns its ids, the keyset cursor
        after it and how many appeals moved (None: the page failed as a whole
        and was rolled back)."""
        cal, policy = self.rules.calendar, self.rules.policy
        ids, cursor = [], after
        try:
            with self.db.transaction() as s:
                appeals = self._due_page(s, now, batch, after)
                if not appeals:
                    return [], after, 0
                ids = [a.id for a in appeals]
                cursor = (appeals[-1].next_check_at, appeals[-1].id)
                # The rows are this transaction's until it ends (FOR UPDATE on
                # PostgreSQL, BEGIN IMMEDIATE on SQLite): computed in memory,
                # then written with one UPDATE instead of one per row.
                before = [{c: getattr(a, c) for c in _SWEPT_COLUMNS} for a in appeals]
                moved, escalations, history, events = 0, [], [], []
                for appeal in appeals:
                    effect = self._climb(escalations, appeal, now, cal, policy)
                    if effect is None:
                        continue
                    moved += 1
                    history += [{"appeal_id": appeal.id, "at": now, **h} for h in effect.history]
                    base = self._event_base(appeal)
                    events += [(t, {**base, **extra}) for t, extra in effect.events]
                _update_rows(s, appeals, before)
                if escalations:
                    s.connection().execute(Escalation.__table__.insert(), escalations)
                    note_changes(s, Escalation.__tablename__, "insert")
                if history:
                    s.connection().execute(AppealHistory.__table__.insert(), history)
                    note_changes(s, AppealHistory.__tablename__, "insert")
                self.outbox.add_many(s, events)  # the page's events: one INSERT
            return ids, cursor, moved
        except Exception as exc:
            if not ids:
                raise  # not even the page could be read: the timer logs it
            _log.warning("sweep: a page of %d failed as a whole (%s); one by one", len(ids),
                         type(exc).__name__)
            return ids, cursor, None

    @staticmethod
    def _climb(escalations, appeal, now, cal, policy):
        """The ladder's work on one due appeal, in memory: its effect, or None
        when nothing was due after all (its next check moves on). The steps
        taken are appended to ``escalations`` as rows."""
        appeal.sweep_failures = 0
        if appeal.status == domain.REPLIED:
            effect = domain.apply(appeal, "close_timeout", {}, SYSTEM, now, cal, policy)
        else:
            levels = domain.due_steps(appeal, now, cal, policy)
            if not levels:
                appeal.next_check_at = domain.next_check(appeal, cal, policy)
                return None
            effect = domain.climb(appeal, levels, now, cal, policy)
            round_ = domain.escalation_round(appeal)
            escalations += [{"appeal_id": appeal.id, "round": round_, "level": level,
                             "step": domain.LADDER[level - 1],
                             "department": appeal.lead_department, "at": now}
                            for level in levels]
        appeal.updated_at = now
        return effect

    @property
    def container_config(self):
        return self.rules.container.config

    def _sweep_one(self, appeal_id, now):
        """One appeal, one transaction. The row's version column makes the
        update conditional: when two instances sweep at once, one wins and the
        other's update matches no row and rolls back — each step happens once.
        Any other failure is this appeal's alone: it is logged, counted and
        retried later with back-off, and the sweep goes on with the others."""
        cal, policy = self.rules.calendar, self.rules.policy
        try:
            with self.db.transaction() as s:
                appeal = s.get(Appeal, appeal_id)
                if appeal is None or appeal.next_check_at is None or appeal.next_check_at > now:
                    return 0  # another instance got here first
                escalations = []
                effect = self._climb(escalations, appeal, now, cal, policy)
                if effect is None:
                    return 0
                s.add_all([Escalation(**e) for e in escalations])
                s.flush()
                self._commit_effect(s, appeal, effect, now)
                return 1
        except StaleDataError:
            _log.info("appeal %s: another instance took this step", appeal_id)
            return 0
        except Exception as exc:
            self._sweep_failed(appeal_id, now, exc)
            return 0

    def _sweep_failed(self, appeal_id, now, exc):
        with self.db.transaction() as s:
            appeal = s.get(Appeal, appeal_id)
            if appeal is None or appeal.next_check_at is None or appeal.next_check_at > now:
                _log.info("appeal %s: another instance took this step", appeal_id)
                return  # a race lost (e.g. the same step inserted by another instance)
            appeal.sweep_failures = (appeal.sweep_failures or 0) + 1
            appeal.next_check_at = domain.sweep_retry_at(appeal.sweep_failures, now,
                                                         self.rules.policy)
            failures, retry_at = appeal.sweep_failures, appeal.next_check_at
        # the exception's class only: its text may quote the row's personal data
        _log.error("appeal %s: sweep failed (%s), %d in a row; next try at %s",
                   appeal_id, type(exc).__name__, failures, retry_at.isoformat())
        self.metrics.counter("qinqing_appeals_sweep_failures",
                             "Appeals whose sweep failed (each retried later with back-off)").inc()

    # -- ledger (APP-8) -----------------------------------------------------------------
    @rpc
    def export_appeals(self, query):
        caller = self.caller.require()
        q = schemas.load(schemas.LedgerExportQuery, query)
        with self.db.reading() as s:
            return dump(schemas.ExportOut, ledger.export(s, q, caller, utcnow()))

    # Exports as jobs (issue 13): written in the background, fetched in chunks.
    @rpc
    def start_export(self, query):
        caller = self.caller.require()
        q = schemas.load(schemas.ExportQuery, query)
        config = self.container_config
        job = exports.create(self.db, query, q, caller, utcnow(), ttl=_export_ttl(config))
        self.rules.container.spawn_managed_thread(
            lambda: exports.run(self.db, job["id"], export_dir(config),
                                int(setting(config, "EXPORT_PAGE_ROWS", 1000))),
            identifier=f"export-{job['id']}")
        return job

    @rpc
    def export_status(self, job_id):
        return exports.find(self.db, job_id, self.caller.require(),
                            ttl=_export_ttl(self.container_config))

    @rpc
    def export_chunk(self, job_id, offset=0):
        # from the database: the replica that wrote the file need not be this one
        data = exports.chunk(self.db, job_id, self.caller.require(), offset,
                             ttl=_export_ttl(self.container_config))
        return {"offset": offset, "content_base64": base64.b64encode(data).decode("ascii")}

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
        require_staff(self.caller)
        with self.db.reading() as s:
            rows = s.execute(select(RoutingRule).order_by(RoutingRule.category, RoutingRule.town)).scalars()
            return [dump(schemas.RouteOut, r) for r in rows]

    @rpc
    def set_route(self, payload, mode=None):
        """Add or change a route; ``mode`` "add" refuses an existing one (409),
        "change" a missing one (404); None does either. Every change is kept
        in the routing table's history (APP-2)."""
        caller = require_staff(self.caller)
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
        now = utcnow()
        with self.db.transaction() as s:
            row = s.execute(select(RoutingRule).where(RoutingRule.category == r["category"],
                                                      RoutingRule.town == r["town"])).scalar_one_or_none()
            if row is not None and mode == "add":
                raise Conflict("this route exists; change it instead")
            if row is None and mode == "change":
                raise NotFound("no such route")
            before = None
            if row is None:
                row = RoutingRule(category=r["category"], town=r["town"])
                s.add(row)
            else:
                before = {"lead_department": row.lead_department,
                          "co_departments": list(row.co_departments or [])}
            row.lead_department = r["lead_department"]
            row.co_departments = r["co_departments"]
            row.updated_at = now
            s.add(RouteChange(category=r["category"], town=r["town"],
                              change="added" if before is None else "changed",
                              lead_department=r["lead_department"],
                              co_departments=r["co_departments"], before=before,
                              actor=_actor(caller), at=now))
        return dump(schemas.RouteOut, r)

    @rpc
    def delete_route(self, category, town):
        """Retire a route; its history keeps what it was."""
        caller = require_staff(self.caller)
        with self.db.transaction() as s:
            row = s.execute(select(RoutingRule).where(RoutingRule.category == category,
                                                      RoutingRule.town == town)).scalar_one_or_none()
            if row is None:
                raise NotFound("no such route")
            s.add(RouteChange(category=category, town=town, change="retired", lead_department=None,
                              co_departments=[], actor=_actor(caller), at=utcnow(),
                              before={"lead_department": row.lead_department,
                                      "co_departments": list(row.co_departments or [])}))
            s.execute(delete(RoutingRule).where(RoutingRule.id == row.id))
        return {"deleted": 1}

    @rpc
    def route_history(self, query=None):
        require_staff(self.caller)
        q = schemas.load(schemas.RouteHistoryQuery, query)
        stmt = select(RouteChange).order_by(RouteChange.id.desc()).limit(q["limit"])
        for key in ("category", "town"):
            if q[key]:
                stmt = stmt.where(getattr(RouteChange, key) == q[key])
        with self.db.reading() as s:
            return [dump(schemas.RouteHistoryEntry, c) for c in s.execute(stmt).scalars()]

    # -- the three lists (APP-8) ----------------------------------------------------------
    @rpc
    def department_list(self, kind, query=None):
        """One of the three lists of a department for a period, as rows (JSON)
        or as a CSV/XLSX file (ExportOut)."""
        caller = self.caller.require()
        if kind not in schemas.THREE_LISTS:
            raise BadInput({"list": [f"one of {', '.join(schemas.THREE_LISTS)}"]})
        q = schemas.load(schemas.DepartmentListQuery, query)
        department = q["department"] or (caller.org if caller.role == "department" else None)
        if department is None:
            raise BadInput({"department": ["Missing data for required field."]})
        if department not in self.rules.profile.departments:
            raise BadInput({"department": ["unknown department"]})
        if not caller.is_staff and not (caller.role == "department" and caller.org == department):
            raise NotFound("no such department list")
        now = utcnow()
        period = ledger.day_bounds(q["period_from"], q["period_to"])
        with self.db.reading() as s:
            rows = ledger.department_list(s, kind, department, period, caller, now)
        if q["format"] != "json":
            return dump(schemas.ExportOut,
                        ledger.list_spreadsheet(kind, department, rows, q["format"], now))
        return dump(schemas.DepartmentList, {"list": kind, "department": department,
                                             "period_from": q["period_from"],
                                             "period_to": q["period_to"], "rows": rows})

    # -- rectification (APP-9) ---------------------------------------------------------
    @rpc
    def create_rectification(self, payload):
        require_staff(self.caller)
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
    def create_rectification_list(self, payload):
        """An evaluation's findings as a list of items, each with its owner and deadline."""
        caller = require_staff(self.caller)
        d = schemas.load(schemas.RectificationListIn, payload)
        depts = self.rules.profile.departments
        errors = {}
        for n, f in enumerate(d["findings"]):
            if f["lead_department"] not in depts:
                errors[f"findings.{n}.lead_department"] = ["unknown department"]
            if any(c not in depts for c in f["co_departments"]):
                errors[f"findings.{n}.co_departments"] = ["unknown department"]
        if errors:
            raise BadInput(errors)
        now = utcnow()
        with self.db.transaction() as s:
            rlist = RectificationList(source=d["source"], title=d["title"] or d["source"],
                                      created_by=_actor(caller), created_at=now)
            s.add(rlist)
            s.flush()
            items = [RectificationItem(list_id=rlist.id, source=d["source"], status="open",
                                       created_at=now, **f) for f in d["findings"]]
            s.add_all(items)
            s.flush()
            self.outbox.add_many(s, [("rectification.created", self._rect_event(i)) for i in items])
            return self._rect_list_out(rlist, items, now)

    @rpc
    def list_rectification_lists(self, query=None):
        caller = self.caller.require()
        q = schemas.load(schemas.RectificationListQuery, query)
        now = utcnow()
        with self.db.reading() as s:
            lists = s.execute(select(RectificationList).order_by(RectificationList.id.desc())).scalars().all()
            items = s.execute(select(RectificationItem).where(RectificationItem.list_id.is_not(None))
                              .order_by(RectificationItem.deadline, RectificationItem.id)).scalars().all()
            out = []
            for rlist in lists:
                mine = [i for i in items if i.list_id == rlist.id and _owns(caller, i)
                        and (q["department"] is None or _owns_as(q["department"], i))]
                if mine:
                    out.append(self._rect_list_out(rlist, mine, now))
            return out

    @rpc
    def get_rectification_list(self, list_id):
        caller = self.caller.require()
        now = utcnow()
        with self.db.reading() as s:
            rlist = s.get(RectificationList, object_id(list_id))
            items = [] if rlist is None else [i for i in s.execute(
                select(RectificationItem).where(RectificationItem.list_id == rlist.id)
                .order_by(RectificationItem.deadline, RectificationItem.id)).scalars()
                if _owns(caller, i)]
            if not items:  # not there, or nothing in it is the caller's: the same
                raise NotFound("no such rectification list")
            return self._rect_list_out(rlist, items, now)

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
            item = s.get(RectificationItem, object_id(item_id))
            if item is None or not (caller.is_staff or caller.org == item.lead_department
                                    or caller.org in item.co_departments):
                raise NotFound("no such rectification item")
            domain.tick_off(item, caller, d["note"], now)
            item.evidence = d["evidence"]
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

    # -- helpers ---------------------------------------------------------------------
    @staticmethod
    def _routes(c, category):
        """The routing table's rows of one category (the only ones that can match)."""
        return [domain.Route(cat, town, lead, tuple(co or ()))
                for cat, town, lead, co in c.execute(_ROUTES, {"category": category})]

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

    def _rect_list_out(self, rlist, items, now):
        out = [self._rect_out(i, now) for i in items]
        progress = domain.rectification_progress(out)
        listed = _LIST_HEAD.dump({
            "id": rlist.id, "source": rlist.source, "title": rlist.title,
            "created_by": rlist.created_by, "created_at": rlist.created_at, "progress": progress})
        return {**listed, "items": out}  # each item dumped already

    @staticmethod
    def _rect_out(item, now):
        d = dump(schemas.RectificationOut, item)
        d["overdue"] = item.status == "open" and domain.calendar_date_le(now, item.deadline) is False
        return d


_LIST_HEAD = schemas.RectificationListOut(exclude=("items",))  # items are dumped one by one


# The enterprise's name (from the directory's events) is read by the INSERT
# itself: one round trip less than a SELECT before it.
_INSERT_APPEAL = Appeal.__table__.insert().values(
    enterprise_name=select(Enterprise.name).where(
        Enterprise.credit_code == bindparam("known_enterprise")).scalar_subquery()
).returning(*Appeal.__table__.c)
_ROUTES = select(RoutingRule.category, RoutingRule.town, RoutingRule.lead_department,
                 RoutingRule.co_departments).where(RoutingRule.category == bindparam("category"))

# What the sweep may change on an appeal (the ladder, close_timeout's closing).
_SWEPT_COLUMNS = ("status", "escalation_level", "next_check_at", "sweep_failures", "closed_at",
                  "under_review", "updated_at")


def _update_rows(s, appeals, before):
    """Write what changed on each appeal with ONE UPDATE (a CASE on the id per
    changed column); the version goes up as the ORM's would, so a copy another
    worker holds is stale. Any row not matched fails the page."""
    table = Appeal.__table__
    changed = {}
    for appeal, old in zip(appeals, before):
        for column in _SWEPT_COLUMNS:
            value = getattr(appeal, column)
            if value != old[column]:
                changed.setdefault(column, {})[appeal.id] = value
    if not changed:
        return
    ids = [a.id for a in appeals]
    values = {}
    for column, by_id in changed.items():
        ids_by_value = {}  # most rows of a page share their new values (the level, now)
        for appeal_id, value in by_id.items():
            ids_by_value.setdefault(value, []).append(appeal_id)
        if len(ids_by_value) == 1 and len(by_id) == len(ids):
            values[column] = literal(next(iter(ids_by_value)), table.c[column].type)
        else:
            values[column] = case(*[(table.c.id.in_(same), literal(value, table.c[column].type))
                                    for value, same in ids_by_value.items()],
                                  else_=table.c[column])
    values["version"] = table.c.version + 1
    result = s.connection().execute(update(table).where(table.c.id.in_(ids)).values(**values))
    if result.rowcount != len(ids):
        raise StaleDataError(f"sweep: {result.rowcount} of {len(ids)} appeals updated")
    note_changes(s, table.name, "update", ids)


def _actor(caller):
    return f"{caller.role}:{caller.sub or caller.org}"


def _owns_as(department, item):
    return department == item.lead_department or department in (item.co_departments or ())


def _owns(caller, item):
    """The task force sees every item; a department those it leads or co-handles."""
    return caller.is_staff or (caller.role == "department" and _owns_as(caller.org, item))


def _export_ttl(config):
    return int(setting(config, "EXPORT_TTL_SECONDS", exports.TTL_SECONDS))
