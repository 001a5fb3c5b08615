"""Transactional outbox: nothing accepted is lost between database and broker.

A service writes its state change and the events it causes in one transaction
(``Outbox.add``). The relay, a managed green thread in each service process,
publishes pending rows to the service's nameko event exchange with publisher
confirms and only then marks them sent. With the broker unreachable, writes
still succeed and rows wait; the relay retries with back-off and the events
flow once the broker is back. A row may be published twice (a crash between
confirm and mark); consumers are idempotent by ``event_id`` (kernel.consumers).
"""
import datetime as dt
import json
import logging
import time
import uuid

import eventlet
from eventlet.event import Event
from amqp import spec
from kombu import Connection, Exchange, Producer
from nameko.extensions import DependencyProvider
from sqlalchemy import (JSON, BigInteger, Column, Integer, MetaData, String, Table, Text,
                        func, select, update, delete, Index)
from sqlalchemy import event as sa_event

from kernel.calendar import utcnow
from kernel.config import setting
from kernel.contracts import SCHEMA_VERSION, schema_for
from kernel.db import Database, UTCDateTime

_log = logging.getLogger(__name__)

_BIGINT = BigInteger().with_variant(Integer, "sqlite")


def define_kernel_tables(metadata: MetaData):
    """The outbox and the consumers' processed-event log, in every service's database."""
    outbox = Table(
        "outbox", metadata,
        Column("id", _BIGINT, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(64), nullable=False),
        Column("payload", Text, nullable=False),  # the JSON envelope
        Column("headers", JSON, nullable=False, default=dict),
        Column("created_at", UTCDateTime, nullable=False),
        Column("published_at", UTCDateTime, nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        # A relay claims a batch for a lease before publishing, so two
        # instances never publish the same row; an expired lease (a relay that
        # died mid-batch) lets another take the rows over.
        Column("claimed_by", String(64), nullable=True),
        Column("claimed_until", UTCDateTime, nullable=True),
        Index("ix_outbox_pending", "published_at", "id"),
    )
    processed = Table(
        "processed_events", metadata,
        Column("event_id", String(36), primary_key=True),
        Column("handler", String(128), primary_key=True),
        Column("processed_at", UTCDateTime, nullable=False),
    )
    return outbox, processed


def create_kernel_tables(op):
    """For a service's first Alembic migration: the outbox and processed-events
    tables, defined once here rather than copied into every service."""
    import sqlalchemy as sa
    outbox, processed = define_kernel_tables(sa.MetaData())
    bind = op.get_bind()
    outbox.create(bind)
    processed.create(bind)


def drop_kernel_tables(op):
    op.drop_table("processed_events")
    op.drop_table("outbox")


def event_exchange(service_name):
    # The same exchange nameko's EventDispatcher uses, so @event_handler works.
    return Exchange(f"{service_name}.events", type="topic", durable=True, auto_delete=False)


class OutboxWriter:
    def __init__(self, relay, worker_ctx):
        self._relay = relay
        self._worker_ctx = worker_ctx

    def add(self, session, event_type, data):
        """Stage an event in the caller's transaction; returns its event_id."""
        return self._relay.stage(session, event_type, data, self._worker_ctx)

    def add_many(self, session, events):
        """Stage several ``(event_type, data)`` at once (one INSERT)."""
        return self._relay.stage_many(session, events, self._worker_ctx)


class OutboxRelay(DependencyProvider):
    """Declare on a service beside its ``Database``; gives workers ``.add(session, type, data)``."""

    def __init__(self, table):
        self.table = table

    def setup(self):
        config = self.container.config
        self.service = self.container.service_name
        self.uri = setting(config, "OUTBOX_AMQP_URI") or setting(config, "AMQP_URI")
        self.poll = float(setting(config, "OUTBOX_POLL_SECONDS"))
        self.batch = int(setting(config, "OUTBOX_BATCH"))
        self.relay_id = f"{self.service}-{uuid.uuid4().hex[:12]}"
        self.lease = dt.timedelta(seconds=float(setting(config, "OUTBOX_LEASE_SECONDS", 30)))
        self.confirm_timeout = float(setting(config, "OUTBOX_CONFIRM_TIMEOUT_SECONDS", 10.0))
        self.max_backoff = float(setting(config, "OUTBOX_MAX_BACKOFF_SECONDS", 10.0))
        self.retention = dt.timedelta(days=float(setting(config, "OUTBOX_RETENTION_DAYS", 7)))
        self.db = next(d for d in self.container.dependencies if isinstance(d, Database))
        self.wake = Event()
        self.running = False
        self.published_total = 0
        self._conn = None

    def start(self):
        # Dependencies are set up concurrently: the Database's session factory
        # exists only from here on.
        relay = self

        @sa_event.listens_for(self.db.factory, "after_commit")
        def _after_commit(session):
            if session.info.pop("outbox_dirty", False):
                relay.poke()

        self.running = True
        self.container.spawn_managed_thread(self._run, identifier=f"{self.service}.outbox_relay")

    def stop(self):
        self.running = False
        self.poke()
        self._close()

    def kill(self):
        self.running = False
        self._close()

    def poke(self):
        if not self.wake.ready():
            self.wake.send(True)

    def get_dependency(self, worker_ctx):
        return OutboxWriter(self, worker_ctx)

    # -- writing ---------------------------------------------------------------
    def stage(self, session, event_type, data, worker_ctx=None):
        return self.stage_many(session, [(event_type, data)], worker_ctx)[0]

    def stage_many(self, session, events, worker_ctx=None):
        """Check each ``(event_type, data)`` against its contract and write them
        all with one INSERT in the caller's transaction; returns the event ids."""
        now = utcnow()
        headers = {}
        if worker_ctx is not None:
            stack = worker_ctx.call_id_stack
            if stack:
                headers["nameko.call_id_stack"] = list(stack)
            if worker_ctx.data.get("request_id"):
                headers["nameko.request_id"] = worker_ctx.data["request_id"]
        rows = []
        occurred_at = now.isoformat()
        for event_type, data in events:
            schema = schema_for(event_type)
            body = schema.dump(data)
            errors = schema.validate(body)
            if errors:  # a programming error: never publish what breaks the contract
                raise ValueError(f"{event_type} payload breaks its contract: {errors}")
            event_id = str(uuid.uuid4())
            # The envelope as Envelope would dump it (same keys, same order),
            # built directly: its fields are plain strings, an int and a dict.
            envelope = {"event_id": event_id, "event_type": event_type,
                        "schema_version": SCHEMA_VERSION, "occurred_at": occurred_at,
                        "source": self.service, "data": body}
            rows.append({"event_id": event_id, "event_type": event_type,
                         "payload": json.dumps(envelope, ensure_ascii=False),
                         "headers": headers, "created_at": now, "attempts": 0})
        if rows:
            # Core on the session's connection (same transaction): the ORM's
            # execution path costs more than this INSERT's own work.
            session.connection().execute(self.table.insert(), rows)
            session.info["outbox_dirty"] = True
        return [r["event_id"] for r in rows]

    # -- relaying --------------------------------------------------------------
    def _run(self):
        backoff = self.poll
        last_cleanup = utcnow()
        while self.running:
            try:
                sent = self.publish_pending()
                backoff = self.poll
                if sent >= self.batch:
                    continue  # more waiting: go again at once
                if utcnow() - last_cleanup > dt.timedelta(hours=1):
                    self._cleanup()
                    last_cleanup = utcnow()
            except Exception as exc:  # broker or database unreachable: keep rows, retry
                _log.warning("outbox relay: %s: %s; retrying in %.1fs", type(exc).__name__, exc, backoff)
                self._close()
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            with eventlet.Timeout(self.poll, False):
                self.wake.wait()
            if self.wake.ready():
                self.wake = Event()

    def _connection(self):
        if self._conn is None:
            conn = Connection(self.uri, connect_timeout=5, heartbeat=0)
            conn.connect()
            channel = conn.channel()
            event_exchange(self.service)(channel).declare()
            # Publisher confirms for the whole batch: publish every row, then
            # wait once for the broker's acks (one round trip per batch, not
            # one per event). The broker numbers a channel's messages from 1.
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            self._channel = channel
            self._producer = Producer(channel, exchange=event_exchange(self.service),
                                      serializer="json")
            self._next_tag = 1
            self._unconfirmed, self._acked, self._nacked = set(), set(), set()
            self._conn = conn
        return self._producer

    def _resolve(self, delivery_tag, multiple):
        if multiple:
            done = {t for t in self._unconfirmed if t <= delivery_tag}
        else:
            done = {delivery_tag} & self._unconfirmed
        self._unconfirmed -= done
        return done

    def _on_ack(self, delivery_tag, multiple):
        self._acked |= self._resolve(delivery_tag, multiple)

    def _on_nack(self, delivery_tag, multiple):
        self._nacked |= self._resolve(delivery_tag, multiple)

    def _close(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # already broken
                pass

    def publish_pending(self):
        """Claim a batch, publish it, wait for the broker's confirms, mark what
        was confirmed as sent; returns how many."""
        producer = self._connection()  # before claiming: no broker, no claim
        rows = self._claim()
        if not rows:
            return 0
        tags = {}
        confirmed = []
        try:
            for row in rows:
                producer.publish(
                    json.loads(row.payload), routing_key=row.event_type, delivery_mode=2,
                    headers=dict(row.headers or {}), retry=False)
                tags[row.id] = self._next_tag
                self._unconfirmed.add(self._next_tag)
                self._next_tag += 1
            deadline = time.monotonic() + self.confirm_timeout
            while self._unconfirmed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the broker did not confirm the batch in time")
                self._channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=remaining)
            confirmed = [row_id for row_id, tag in tags.items() if tag in self._acked]
            if len(confirmed) < len(tags):
                _log.warning("outbox relay: broker refused %d events; they go again",
                             len(tags) - len(confirmed))
        finally:
            # Mark what the broker confirmed; release the rest at once so they
            # go again on the next round (a duplicate, if the broker had them
            # after all, is dropped by the consumers).
            self._acked.clear()
            self._nacked.clear()
            t = self.table
            unconfirmed = [row.id for row in rows if row.id not in set(confirmed)]
            with self.db.store.transaction() as session:
                if confirmed:
                    session.execute(update(t).where(t.c.id.in_(confirmed)).values(
                        published_at=utcnow(), attempts=t.c.attempts + 1, claimed_by=None,
                        claimed_until=None))
                if unconfirmed:
                    session.execute(update(t).where(
                        t.c.id.in_(unconfirmed), t.c.claimed_by == self.relay_id).values(
                        attempts=t.c.attempts + 1, claimed_by=None, claimed_until=None))
        self.published_total += len(confirmed)
        return len(confirmed)

    def _claim(self):
        """Take the lease on the oldest pending rows (short transaction: no
        network I/O while the database is held)."""
        t = self.table
        now = utcnow()
        free = (t.c.published_at.is_(None)
                & (t.c.claimed_until.is_(None) | (t.c.claimed_until < now)))
        with self.db.store.transaction() as session:
            ids = select(t.c.id).where(free).order_by(t.c.id).limit(self.batch)
            if session.bind.dialect.name == "postgresql":
                ids = ids.with_for_update(skip_locked=True)
            ids = session.execute(ids).scalars().all()
            if not ids:
                return []
            # the WHERE repeats the test, so a row another relay claimed
            # meanwhile is not taken twice
            session.execute(update(t).where(t.c.id.in_(ids), free).values(
                claimed_by=self.relay_id, claimed_until=now + self.lease))
            return session.execute(
                select(t.c.id, t.c.event_type, t.c.payload, t.c.headers)
                .where(t.c.id.in_(ids), t.c.claimed_by == self.relay_id,
                       t.c.published_at.is_(None))
                .order_by(t.c.id)).all()

    def pending_count(self):
        t = self.table
        with self.db.store.reading() as session:
            return session.execute(select(func.count()).select_from(t).where(
                t.c.published_at.is_(None))).scalar_one()

    def _cleanup(self):
        t = self.table
        with self.db.store.transaction() as session:
            session.execute(delete(t).where(t.c.published_at < utcnow() - self.retention))
