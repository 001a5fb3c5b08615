"""Nameko entrypoints of the notify service (通知, NOT-1 … NOT-3). Thin: events
in → the domain says who is told on which channel → deliveries written once
(unique per event, person and channel) → the dispatcher sends what is due
through the configured providers, with quiet hours, the SMS cap and retries."""
import base64
import datetime as dt
import json
import logging
import secrets
import uuid
from pathlib import Path

import eventlet
from nameko.extensions import DependencyProvider
from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from kernel.calendar import to_utc, utcnow
from kernel.config import CountyProfile, setting, setting_json
from kernel.consumers import consumes
from kernel.contracts import schema_for
from kernel.db import Database
from kernel.entrypoints import object_id, service_dependencies
from kernel.errors import BadInput, Forbidden, NotFound
from kernel.rpc import rpc
from kernel.timers import configurable_timer
from kernel.validators import normalise_credit_code, normalise_phone

from . import channels, domain, schemas
from .models import (Delivery, Enterprise, InboxMessage, Licence, Push, WebhookSubscription,
                     outbox_table, processed_table)
from .templates import Templates

_log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class Clock(DependencyProvider):
    """The service's clock; tests set it (``container`` dependency ``set``)."""

    def setup(self):
        self.fixed = None

    def set(self, instant):
        self.fixed = to_utc(instant) if instant is not None else None

    def now(self):
        return self.fixed or utcnow()

    def get_dependency(self, worker_ctx):
        return self


class Directory(DependencyProvider):
    """Who is who: officials' contacts from the county profile's ``contacts``;
    enterprises' from notify's registry (the directory's events + imports)."""

    def setup(self):
        config = self.container.config
        self.profile = CountyProfile.from_config(config)
        contacts = self.profile.data.get("contacts", {})
        self.officials = {}
        for dept, c in contacts.get("department_heads", {}).items():
            self.officials[(dept, "head")] = c
        for dept, c in contacts.get("deadline_contacts", {}).items():
            self.officials[(dept, "deadline_contact")] = c
        if contacts.get("taskforce_head"):
            self.officials[(self.profile.taskforce, "taskforce_head")] = contacts["taskforce_head"]
        self.templates = Templates.load(setting(config, "NOTIFY_TEMPLATES"))
        self.providers = channels.providers_from_config(config)
        self.guard = channels.TargetGuard(config)
        d = domain.RetryPolicy()
        self.retry = domain.RetryPolicy(
            max_attempts=int(setting(config, "RETRY_MAX_ATTEMPTS", d.max_attempts)),
            base_seconds=float(setting(config, "RETRY_BASE_SECONDS", d.base_seconds)),
            factor=float(setting(config, "RETRY_FACTOR", d.factor)),
            cap_seconds=float(setting(config, "RETRY_CAP_SECONDS", d.cap_seconds)))
        self.sms_limit = int(setting(config, "SMS_HOURLY_LIMIT", 60))
        self.batch = int(setting(config, "DISPATCH_BATCH", 500))
        self.concurrency = int(setting(config, "DISPATCH_CONCURRENCY", 16))
        self.lease = dt.timedelta(seconds=float(setting(config, "DISPATCH_LEASE_SECONDS", 60)))
        self.licence_ahead = [int(d) for d in setting_json(config, "LICENCE_REMIND_DAYS", [30, 7])]
        self.instance = f"notify-{uuid.uuid4().hex[:12]}"

    def start(self):
        # The profile's enterprises seed the contact registry (see README: the
        # directory's events carry no phone numbers; contacts come from here or
        # from an import).
        db = next(d for d in self.container.dependencies if isinstance(d, Database))
        now = utcnow()
        rows = [{"credit_code": e["credit_code"], "name": e.get("name"), "town": e.get("town"),
                 "industry": e.get("industry"), "size": domain.size_of(e.get("above_scale")),
                 "phone": normalise_phone(e["contact_phone"]) if e.get("contact_phone") else None,
                 "email": e.get("contact_email"), "wechat_openid": e.get("wechat_openid"),
                 "updated_at": now} for e in self.profile.enterprises]
        with db.store.transaction() as s:  # known ones are left as they are
            _upsert_enterprises(s, rows, ())

    def official_address(self, department, role, channel):
        c = self.officials.get((department, role)) or {}
        key = {"sms": "phone", "email": "email", "wechat": "wechat_openid"}[channel]
        value = c.get(key)
        return normalise_phone(value) if value and channel == domain.SMS else value

    def department_name(self, code):
        return (self.profile.departments.get(code) or {}).get("name", code or "")

    def get_dependency(self, worker_ctx):
        return self


def _upsert_enterprises(session, rows, columns):
    """Insert enterprises, or update only ``columns`` of those known already:
    the directory's events (tags) and the contact import (addresses) each own
    their columns, and may arrive at the same moment."""
    if not rows:
        return
    dialect = session.bind.dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Enterprise.__table__)
    if columns:
        stmt = ins.on_conflict_do_update(index_elements=["credit_code"],
                                         set_={c: ins.excluded[c] for c in columns})
    else:
        stmt = ins.on_conflict_do_nothing(index_elements=["credit_code"])
    session.execute(stmt, rows)


def _insert_ignoring_duplicates(session, rows):
    """Insert deliveries; a row whose dedup_key exists already is skipped."""
    if not rows:
        return 0
    dialect = session.bind.dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Delivery.__table__)
    result = session.execute(ins.on_conflict_do_nothing(index_elements=["dedup_key"]), rows)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(rows)


class NotifyService(service_dependencies(MIGRATIONS, outbox_table, processed_table)):
    name = "notify"

    directory = Directory()
    clock = Clock()

    # -- what other services tell us (NOT-1, NOT-2) -----------------------------------
    @consumes("appeals", "appeal.created")
    def on_appeal_created(self, session, data, envelope):
        self._plan(session, "appeal.created", data, envelope)

    @consumes("appeals", "appeal.assigned")
    def on_appeal_assigned(self, session, data, envelope):
        self._plan(session, "appeal.assigned", data, envelope)

    @consumes("appeals", "appeal.status_changed")
    def on_appeal_status_changed(self, session, data, envelope):
        self._plan(session, "appeal.status_changed", data, envelope)

    @consumes("appeals", "appeal.replied")
    def on_appeal_replied(self, session, data, envelope):
        self._plan(session, "appeal.replied", data, envelope)

    @consumes("appeals", "appeal.due_soon")
    def on_appeal_due_soon(self, session, data, envelope):
        self._plan(session, "appeal.due_soon", data, envelope)

    @consumes("appeals", "appeal.escalated")
    def on_appeal_escalated(self, session, data, envelope):
        self._plan(session, "appeal.escalated", data, envelope)

    @consumes("inspections", "inspection.approved")
    def on_inspection_approved(self, session, data, envelope):
        self._plan(session, "inspection.approved", data, envelope)

    @consumes("inspections", "inspection.rejected")
    def on_inspection_rejected(self, session, data, envelope):
        self._plan(session, "inspection.rejected", data, envelope)

    @consumes("scoring", "rating.bad")
    def on_rating_bad(self, session, data, envelope):
        self._plan(session, "rating.bad", data, envelope)

    @consumes("scoring", "card.issued")
    def on_card_issued(self, session, data, envelope):
        self._plan(session, "card.issued", data, envelope)

    @consumes("scoring", "ranking.published")
    def on_ranking_published(self, session, data, envelope):
        self._plan(session, "ranking.published", data, envelope)

    @consumes("scoring", "followup.overdue")
    def on_followup_overdue(self, session, data, envelope):
        self._plan(session, "followup.overdue", data, envelope)

    @consumes("inspections", "enterprise.upserted")
    def on_enterprise_upserted(self, session, data, envelope):
        _upsert_enterprises(session, [{
            "credit_code": data["credit_code"], "name": data["name"], "town": data.get("town"),
            "industry": data.get("industry"), "size": domain.size_of(data["above_scale"]),
            "updated_at": utcnow()}], ("name", "town", "industry", "size", "updated_at"))

    def _plan(self, session, event_type, data, envelope):
        d = self.directory
        now = self.clock.now()
        plan = domain.plan(event_type, data, d.profile.taskforce)
        event_id = str(envelope["event_id"])
        context = json.loads(json.dumps(schema_for(event_type).dump(data), default=str))
        dept = data.get("lead_department") or data.get("department")
        context["department_name"] = d.department_name(dept)
        ent = session.get(Enterprise, data["enterprise_code"]) if data.get("enterprise_code") else None
        context["enterprise_name"] = (ent.name if ent and ent.name else data.get("enterprise_code", ""))
        rows = []
        for notice in plan.notices:
            address = self._address(notice.recipient, notice.channel, ent)
            if address is None:
                _log.warning("%s: no %s address for %s", event_type, notice.channel, notice.recipient.ref)
                continue
            title, body = d.templates.render(event_type, notice.channel, context)
            rows.append(self._row(f"{event_id}|{notice.recipient.ref}|{notice.channel}", event_id,
                                  event_type, notice.channel, notice.recipient.ref, address,
                                  title, body, notice.urgent, now))
        rows += self._webhook_rows(session, event_type, event_id, envelope, plan, now)
        _insert_ignoring_duplicates(session, rows)

    def _address(self, recipient, channel, ent):
        if channel == domain.INBOX:
            return "%s:%s" % recipient.inbox_owner
        if recipient.kind == "official":
            return self.directory.official_address(recipient.key, recipient.role, channel)
        if ent is None:
            return None
        return {domain.SMS: ent.phone, domain.EMAIL: ent.email, domain.WECHAT: ent.wechat_openid}[channel]

    def _webhook_rows(self, session, event_type, event_id, envelope, plan, now):
        subs = session.execute(select(WebhookSubscription).where(
            WebhookSubscription.active.is_(True))).scalars().all()
        rows = []
        for sub in subs:
            if event_type not in sub.event_types or not domain.webhook_visible(
                    sub.department, plan.departments, self.directory.profile.taskforce):
                continue
            payload = {"type": event_type, "timestamp": envelope["occurred_at"].isoformat(),
                       "data": envelope["data"]}
            rows.append(self._row(f"{event_id}|subscription:{sub.id}|webhook", event_id, event_type,
                                  domain.WEBHOOK, f"subscription:{sub.id}", sub.url, event_type,
                                  json.dumps(payload, ensure_ascii=False), True, now))
        return rows

    @staticmethod
    def _row(dedup_key, event_id, event_type, channel, recipient, address, title, body, urgent, now):
        when = domain.not_before(channel, urgent, now)
        return {"dedup_key": dedup_key, "event_id": event_id, "event_type": event_type,
                "channel": channel, "recipient": recipient, "address": address,
                "title": title[:200], "body": body, "urgent": urgent,
                "status": domain.QUEUED if when <= now else domain.WAITING,
                "attempts": 0, "next_attempt_at": when, "created_at": now}

    # -- the dispatcher -------------------------------------------------------------------
    @configurable_timer("DISPATCH_INTERVAL_SECONDS", 1)
    def dispatch(self):
        """Send what is due: claim a batch under a lease (one instance sends a
        row), apply quiet hours and the SMS cap, send, record the outcome."""
        total = 0
        while True:
            batch = self._claim()
            if not batch:
                return total
            total += self._send_batch(batch)

    def _claim(self):
        d, now = self.directory, self.clock.now()
        with self.db.transaction() as s:
            if s.bind.dialect.name == "postgresql":
                # claims one at a time across instances, so the SMS cap counts
                # every message in flight (SQLite's BEGIN IMMEDIATE does the same)
                s.execute(text("SELECT pg_advisory_xact_lock(74201)"))
            rows = s.execute(select(Delivery).where(
                Delivery.status.in_(domain.PENDING), Delivery.next_attempt_at <= now,
                or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now))
                .order_by(Delivery.next_attempt_at, Delivery.id).limit(d.batch)).scalars().all()
            if not rows:
                return []
            window = self._sms_window(s, {r.address for r in rows if r.channel == domain.SMS}, now)
            claimed = []
            for r in rows:
                when = domain.not_before(r.channel, r.urgent, now)
                if when > now:  # a retry that fell into the night
                    r.status, r.next_attempt_at = domain.WAITING, when
                    continue
                if r.channel == domain.SMS:
                    ok, until = domain.sms_allowed(window.setdefault(r.address, []), now, d.sms_limit)
                    if not ok:
                        r.status, r.next_attempt_at = domain.HELD, until
                        r.last_error = f"hourly SMS limit ({d.sms_limit}) reached"
                        continue
                    window[r.address].append(now)
                claimed.append(channels.Message(r.id, r.channel, r.address, r.title, r.body,
                                                r.event_type, {"attempts": r.attempts,
                                                               "recipient": r.recipient,
                                                               "event_id": r.event_id}))
            if claimed:  # one UPDATE for the batch, not one per row
                s.execute(update(Delivery).where(Delivery.id.in_([m.delivery_id for m in claimed]))
                          .values(claimed_by=d.instance, claimed_until=now + d.lease)
                          .execution_options(synchronize_session=False))
            return claimed

    def _sms_window(self, s, phones, now):
        """Per phone: when it was sent SMS in the last hour, and the SMS in
        flight (claimed by any instance) counted as now."""
        window = {p: [] for p in phones}
        if not phones:
            return window
        since = now - domain.HOUR
        for phone, sent_at, status in s.execute(select(
                Delivery.address, Delivery.sent_at, Delivery.status).where(
                Delivery.channel == domain.SMS, Delivery.address.in_(phones),
                or_(Delivery.sent_at > since,
                    (Delivery.claimed_until > now) & Delivery.status.in_(domain.PENDING)))):
            window[phone].append(sent_at if status == domain.SENT else now)
        return window

    def _send_batch(self, batch):
        d = self.directory
        subs = {}
        webhook_ids = {int(m.extra["recipient"].split(":")[1]) for m in batch
                       if m.channel == domain.WEBHOOK}
        if webhook_ids:
            with self.db.reading() as s:
                subs = {w.id: (w.secret, w.active) for w in s.execute(select(
                    WebhookSubscription).where(WebhookSubscription.id.in_(webhook_ids))).scalars()}
        outcomes = {}

        def send(message):
            if message.channel == domain.INBOX:
                outcomes[message.delivery_id] = None
                return
            try:
                if message.channel == domain.WEBHOOK:
                    sub_id = int(message.extra["recipient"].split(":")[1])
                    secret, active = subs.get(sub_id, (None, False))
                    if not active:
                        raise channels.DeliveryFailed("subscription removed")
                    message.extra.update(secret=secret, payload=json.loads(message.body),
                                         msg_id=f"{message.extra['event_id']}-{sub_id}")
                provider = d.providers.get(message.channel)
                if provider is None:
                    raise channels.DeliveryFailed(f"no provider for {message.channel}")
                provider.send(message)
                outcomes[message.delivery_id] = None
            except channels.DeliveryFailed as exc:
                outcomes[message.delivery_id] = str(exc)[:500]
            except Exception as exc:  # a provider's bug must not stop the batch
                _log.exception("delivery %s: provider error", message.delivery_id)
                outcomes[message.delivery_id] = f"provider error: {type(exc).__name__}"

        pool = eventlet.GreenPool(d.concurrency)
        for message in batch:
            pool.spawn_n(send, message)
        pool.waitall()
        self._record(batch, outcomes)
        return len(batch)

    def _record(self, batch, outcomes):
        d, now = self.directory, self.clock.now()
        sent_counter = self.metrics.counter("qinqing_notify_deliveries", "Deliveries by outcome",
                                            ["channel", "outcome"])
        by_id = {m.delivery_id: m for m in batch}
        sent = [i for i, err in outcomes.items() if err is None]
        with self.db.transaction() as s:
            if sent:
                s.execute(update(Delivery).where(Delivery.id.in_(sent),
                                                 Delivery.claimed_by == d.instance).values(
                    status=domain.SENT, sent_at=now, attempts=Delivery.attempts + 1,
                    claimed_by=None, claimed_until=None, last_error=None))
                inbox = [by_id[i] for i in sent if by_id[i].channel == domain.INBOX]
                if inbox:  # one INSERT for the batch's inbox messages
                    s.execute(insert(InboxMessage), [
                        {"delivery_id": m.delivery_id, "owner_role": m.address.split(":", 1)[0],
                         "owner_org": m.address.split(":", 1)[1], "event_type": m.event_type,
                         "title": m.title, "body": m.body, "read": False, "created_at": now}
                        for m in inbox])
            for i, err in outcomes.items():
                if err is None:
                    continue
                m = by_id[i]
                attempts = m.extra["attempts"] + 1
                status, when = d.retry.after_failure(attempts, now)
                s.execute(update(Delivery).where(Delivery.id == i,
                                                 Delivery.claimed_by == d.instance).values(
                    status=status, attempts=attempts, next_attempt_at=when or now,
                    last_error=err, claimed_by=None, claimed_until=None))
                _log.warning("delivery %s on %s to %s failed (attempt %s): %s → %s", i, m.channel,
                             domain.mask_address(m.channel, m.address), attempts, err, status)
                sent_counter.labels(m.channel, status).inc()
        for i in sent:
            sent_counter.labels(by_id[i].channel, domain.SENT).inc()

    # -- deliveries (the task force) -----------------------------------------------------
    @rpc
    def list_deliveries(self, query=None):
        self._staff_only()
        q = schemas.load(schemas.DeliveryQuery, query)
        stmt = select(Delivery).order_by(Delivery.id.desc()).limit(q["limit"])
        for key in ("status", "channel", "event_type"):
            if q[key]:
                stmt = stmt.where(getattr(Delivery, key) == q[key])
        if q["before_id"]:
            stmt = stmt.where(Delivery.id < q["before_id"])
        with self.db.reading() as s:
            items = [self._delivery_out(r) for r in s.execute(stmt).scalars()]
            counts = dict(s.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
        return {"items": items, "counts": counts}  # items dumped (and masked) one by one

    @rpc
    def resend(self, delivery_id):
        """A dead delivery goes again (its attempts start over)."""
        self._staff_only()
        now = self.clock.now()
        with self.db.transaction() as s:
            row = s.get(Delivery, object_id(delivery_id))
            if row is None:
                raise NotFound("no such delivery")
            if row.status != domain.DEAD:
                raise BadInput({"status": [f"only dead deliveries are re-sent (this one is {row.status})"]})
            row.status, row.attempts, row.next_attempt_at = domain.QUEUED, 0, now
            row.last_error = None
            return self._delivery_out(row)

    @staticmethod
    def _delivery_out(r):
        d = schemas.dump(schemas.Delivery, r)
        d["address"] = domain.mask_address(r.channel, r.address) if r.channel != domain.INBOX else r.address
        return d

    # -- the inbox ------------------------------------------------------------------------
    @rpc
    def list_inbox(self, query=None):
        caller = self.caller.require()
        q = schemas.load(schemas.InboxQuery, query)
        owner = self._inbox_owner(caller)
        mine = (InboxMessage.owner_role == owner[0]) & (InboxMessage.owner_org == owner[1])
        stmt = select(InboxMessage).where(mine).order_by(InboxMessage.id.desc()).limit(q["limit"])
        if q["unread"] is not None:
            stmt = stmt.where(InboxMessage.read.is_(not q["unread"]))
        if q["before_id"]:
            stmt = stmt.where(InboxMessage.id < q["before_id"])
        with self.db.reading() as s:
            items = s.execute(stmt).scalars().all()
            unread = s.execute(select(func.count()).select_from(InboxMessage).where(
                mine, InboxMessage.read.is_(False))).scalar_one()
            return schemas.dump(schemas.InboxPage, {"items": items, "unread": unread})

    @rpc
    def mark_inbox(self, message_id, payload):
        caller = self.caller.require()
        p = schemas.load(schemas.MarkRead, payload)
        owner = self._inbox_owner(caller)
        with self.db.transaction() as s:
            msg = s.get(InboxMessage, object_id(message_id))
            if msg is None or (msg.owner_role, msg.owner_org) != owner:
                raise NotFound("no such message")  # another's message: not found (GW-2)
            msg.read = p["read"]
            return schemas.dump(schemas.InboxItem, msg)

    @staticmethod
    def _inbox_owner(caller):
        if caller.role == "enterprise":
            return ("enterprise", caller.org)
        if caller.role in ("department", "taskforce"):
            return ("department", caller.org)
        raise NotFound("no inbox for this caller")

    # -- webhooks (GW-3) ------------------------------------------------------------------
    @rpc
    def create_webhook(self, payload):
        caller = self._department_or_staff()
        p = schemas.load(schemas.WebhookCreate, payload)
        try:
            self.directory.guard.check(p["url"])
        except domain.TargetRefused as exc:
            raise BadInput({"url": [str(exc)]})
        now = self.clock.now()
        with self.db.transaction() as s:
            sub = WebhookSubscription(department=caller.org or self.directory.profile.taskforce,
                                      url=p["url"], event_types=sorted(set(p["event_types"])),
                                      secret=_new_secret(), active=True,
                                      created_by=f"{caller.role}:{caller.sub}", created_at=now)
            s.add(sub)
            s.flush()
            return schemas.dump(schemas.WebhookWithSecret, sub)

    @rpc
    def list_webhooks(self):
        caller = self._department_or_staff()
        with self.db.reading() as s:
            stmt = select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
            if not caller.is_staff:
                stmt = stmt.where(WebhookSubscription.department == caller.org)
            return schemas.dump(schemas.Webhook, s.execute(stmt.order_by(WebhookSubscription.id))
                                .scalars().all(), many=True)

    @rpc
    def rotate_webhook_secret(self, subscription_id):
        caller = self._department_or_staff()
        with self.db.transaction() as s:
            sub = self._own_subscription(s, caller, subscription_id)
            sub.secret, sub.rotated_at = _new_secret(), self.clock.now()
            return schemas.dump(schemas.WebhookWithSecret, sub)

    @rpc
    def delete_webhook(self, subscription_id):
        caller = self._department_or_staff()
        with self.db.transaction() as s:
            self._own_subscription(s, caller, subscription_id).active = False
        return {"deleted": 1}

    @staticmethod
    def _own_subscription(s, caller, subscription_id):
        sub = s.get(WebhookSubscription, object_id(subscription_id))
        if sub is None or not sub.active or not (caller.is_staff or sub.department == caller.org):
            raise NotFound("no such webhook subscription")
        return sub

    # -- pushes to enterprises (NOT-2) -------------------------------------------------------
    @rpc
    def push(self, payload):
        caller = self._staff_only()
        p = schemas.load(schemas.PushCreate, payload)
        now = self.clock.now()
        tags = p["tags"]
        with self.db.transaction() as s:
            push = Push(kind=p["kind"], title=p["title"], body=p["body"], tags=tags,
                        credit_codes=p["credit_codes"], created_by=f"{caller.role}:{caller.sub}",
                        created_at=now)
            s.add(push)
            s.flush()
            stmt = select(Enterprise)
            if p["credit_codes"]:
                stmt = stmt.where(Enterprise.credit_code.in_(p["credit_codes"]))
            for key in ("industry", "size", "town"):
                if tags.get(key):
                    stmt = stmt.where(getattr(Enterprise, key).in_(tags[key]))
            matched = 0
            queued = 0
            rows = []
            event_type = f"push.{p['kind']}"
            for ent in s.execute(stmt.order_by(Enterprise.credit_code)).scalars():
                if not domain.matches(tags, ent.industry, ent.size, ent.town):
                    continue  # the SQL filter already did; the rule says it once more
                matched += 1
                context = {"title": p["title"], "body": p["body"],
                           "enterprise_name": ent.name or ent.credit_code}
                rows += self._enterprise_rows(f"push:{push.id}", event_type, ent, context, now)
                if len(rows) >= 2000:
                    queued += _insert_ignoring_duplicates(s, rows)
                    rows = []
            queued += _insert_ignoring_duplicates(s, rows)
            push.matched = matched
            _log.info("push %s (%s) matched %d enterprises, %d deliveries", push.id, push.kind,
                      matched, queued)
            return schemas.dump(schemas.PushOut, {"id": push.id, "kind": push.kind,
                                                  "matched": matched, "queued": queued})

    def _enterprise_rows(self, source, event_type, ent, context, now):
        rows = []
        recipient = domain.enterprise(ent.credit_code)
        for channel in domain.PUSH_CHANNELS:
            address = self._address(recipient, channel, ent)
            if address is None:
                continue
            title, body = self.directory.templates.render(event_type, channel, context)
            rows.append(self._row(f"{source}|{recipient.ref}|{channel}", source, event_type,
                                  channel, recipient.ref, address, title, body, False, now))
        return rows

    # -- imports ------------------------------------------------------------------------
    @rpc
    def import_licences(self, payload):
        self._staff_only()
        p = schemas.load(schemas.CsvImport, payload)
        rows, errors = domain.parse_licences(p["csv"], _valid_code)
        now = self.clock.now()
        if not errors:
            with self.db.transaction() as s:
                for r in rows:
                    lic = s.execute(select(Licence).where(
                        Licence.credit_code == r["credit_code"],
                        Licence.licence_no == r["licence_no"])).scalar_one_or_none()
                    if lic is None:
                        lic = Licence(reminded=[], **r)
                        s.add(lic)
                    elif lic.expires_on != r["expires_on"]:  # renewed: remind again next time
                        lic.expires_on, lic.reminded = r["expires_on"], []
                    lic.name, lic.updated_at = r["name"], now
        # one bad row refuses the file: the operator fixes it and imports again
        return schemas.dump(schemas.ImportResult, {"imported": 0 if errors else len(rows),
                                                   "errors": errors})

    @rpc
    def import_contacts(self, payload):
        """Enterprise contacts (phone, e-mail, openid) by credit code."""
        self._staff_only()
        p = schemas.load(schemas.CsvImport, payload)
        rows, errors = domain.parse_contacts(p["csv"], _valid_code, normalise_phone)
        now = self.clock.now()
        if not errors:
            latest = {r["credit_code"]: {**r, "updated_at": now} for r in rows}  # last row wins
            with self.db.transaction() as s:
                _upsert_enterprises(s, list(latest.values()),
                                    ("phone", "email", "wechat_openid", "updated_at"))
        return schemas.dump(schemas.ImportResult, {"imported": 0 if errors else len(rows),
                                                   "errors": errors})

    @configurable_timer("LICENCE_SWEEP_SECONDS", 3600)
    def remind_licences(self):
        """无感续证: remind ahead of expiry (LICENCE_REMIND_DAYS), each mark once."""
        d, now = self.directory, self.clock.now()
        today = to_utc(now).astimezone(domain.SHANGHAI).date()
        horizon = today + dt.timedelta(days=max(d.licence_ahead))
        done = 0
        with self.db.transaction() as s:
            for lic in s.execute(select(Licence).where(Licence.expires_on >= today,
                                                       Licence.expires_on <= horizon)).scalars():
                for days in domain.licence_reminders_due(lic.expires_on, today, d.licence_ahead,
                                                         set(lic.reminded or [])):
                    ent = s.get(Enterprise, lic.credit_code)
                    if ent is None:
                        continue
                    context = {"title": lic.name, "body": f"将于{lic.expires_on}到期",
                               "enterprise_name": ent.name or ent.credit_code,
                               "licence_no": lic.licence_no, "expires_on": str(lic.expires_on),
                               "days_left": (lic.expires_on - today).days}
                    _insert_ignoring_duplicates(s, self._enterprise_rows(
                        f"licence:{lic.id}:{days}", "push.licence_expiry", ent, context, now))
                    lic.reminded = sorted(set(lic.reminded or []) | {days})
                    done += 1
        return done

    # -- operations ---------------------------------------------------------------------
    @configurable_timer("GAUGE_INTERVAL_SECONDS", 15, eager=True)
    def refresh_gauges(self):
        """Business gauges on a schedule, not per scrape (the admin port serves them)."""
        gauge = self.metrics.gauge("qinqing_notify_deliveries_by_status", "Deliveries by status",
                                   ["status", "channel"])
        with self.db.reading() as s:
            counts = s.execute(select(Delivery.status, Delivery.channel, func.count())
                               .group_by(Delivery.status, Delivery.channel)).all()
        gauge.clear()
        for status, channel, n in counts:
            gauge.labels(status, channel).set(n)

    # -- helpers ---------------------------------------------------------------------------
    def _staff_only(self):
        caller = self.caller.require()
        if not caller.is_staff:
            raise Forbidden("only the task force may do this")
        return caller

    def _department_or_staff(self):
        caller = self.caller.require()
        if not (caller.is_staff or caller.role == "department"):
            raise Forbidden("webhooks are for department systems")
        return caller


def _new_secret():
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _valid_code(code):
    try:
        normalise_credit_code(code)
        return True
    except Exception:  # stdnum's and marshmallow's errors alike
        return False

