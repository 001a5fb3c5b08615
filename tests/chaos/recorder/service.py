"""A small downstream consumer for the chaos tests: it records each appeal
event it handles in its own database, through the kernel's idempotent
``consumes`` (so a redelivered event must not leave a second row).

``RecorderService.broken_for`` stands for a bug: an ``appeal.created`` of an
enterprise in it fails every time (a poison message); emptying it is "the
fix" that a replay from the dead-letter queue then meets.
"""
import os
from pathlib import Path

import eventlet

from sqlalchemy import Column, Integer, MetaData, String, Table

from kernel.calendar import utcnow
from kernel.consumers import consumes
from kernel.db import Database, UTCDateTime
from kernel.health import AdminServer
from kernel.metrics import Metrics
from kernel.outbox import define_kernel_tables

metadata = MetaData()
_, processed_table = define_kernel_tables(metadata)
received = Table(
    "received", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),  # no unique index: a duplicate would show
    Column("event_type", String(64), nullable=False),
    Column("appeal_id", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)


class Poisoned(Exception):
    pass


class RecorderService:
    name = "recorder"
    db = Database(Path(__file__).parent / "migrations")
    metrics = Metrics()
    admin = AdminServer()
    processed_table = processed_table
    broken_for = set()  # enterprise codes whose appeals this "bug" cannot handle

    def _record(self, session, envelope, data):
        # work that takes a while, inside the transaction: a kill lands mid-way
        eventlet.sleep(float(os.environ.get("RECORDER_DELAY_SECONDS") or 0))
        session.execute(received.insert().values(
            event_id=str(envelope["event_id"]), event_type=envelope["event_type"],
            appeal_id=data["appeal_id"], at=utcnow()))

    @consumes("appeals", "appeal.created")
    def on_created(self, session, data, envelope):
        if data["enterprise_code"] in type(self).broken_for:
            raise Poisoned("cannot handle this one yet")
        self._record(session, envelope, data)

    @consumes("appeals", "appeal.assigned")
    def on_assigned(self, session, data, envelope):
        self._record(session, envelope, data)

    @consumes("appeals", "appeal.status_changed")
    def on_status_changed(self, session, data, envelope):
        self._record(session, envelope, data)
