"""Scheduled jobs after a pause of weeks (the clock jumps: a laptop asleep, a
pod rescheduled) with two instances sweeping at once: each due step is taken
once, and the late ones are caught up in order. Real broker, real DB; only the
wall clock the service reads is moved."""
import datetime as dt
from collections import defaultdict

import pytest
import sqlalchemy as sa

import services.appeals.service as appeals_service
from kernel.calendar import utcnow
from kernel.db import make_engine
from services.appeals.service import AppealsService
from tests.integration.test_reliability import appeal_body

pytestmark = pytest.mark.integration

LADDER = ("reminder", "supervision", "talk", "notice", "accountability")


def test_two_instances_after_a_clock_jump_take_each_late_step_once_in_order(
        start_service, db_factory, rpc, callers, event_tap, monkeypatch):
    # rule: APP-5 (the ladder), APP-1 (each step announced once)
    db_url = db_factory("appeals")
    tap = event_tap("appeals", "appeal.*")
    start_service(AppealsService, DB_URL=db_url, SWEEP_INTERVAL_SECONDS=0.2)
    start_service(AppealsService, DB_URL=db_url, SWEEP_INTERVAL_SECONDS=0.2)
    with rpc(callers["hotline"]) as p:
        ids = [p.appeals.create_appeal(appeal_body(title=f"t{i}"))["id"] for i in range(4)]
    tap.drain(timeout=1.5)  # a few sweeps: nothing is due yet
    assert not [e for e in tap.received if e["event_type"] in ("appeal.due_soon", "appeal.escalated")]

    # the machine sleeps for 60 days: when it wakes, every step of every appeal is late
    jump = dt.timedelta(days=60)
    monkeypatch.setattr(appeals_service, "utcnow", lambda: utcnow() + jump)
    want = len(ids) * len(LADDER)
    steps_of = lambda r: [e for e in r if e["event_type"] in ("appeal.due_soon", "appeal.escalated")]  # noqa: E731
    tap.drain(until=lambda r: len(steps_of(r)) >= want, timeout=60)
    tap.drain(timeout=2)  # more sweeps by both instances: nothing new may come
    seen = defaultdict(list)
    for e in steps_of(tap.received):
        seen[e["data"]["appeal_id"]].append(e["data"].get("step", "reminder"))
    assert dict(seen) == {i: list(LADDER) for i in ids}  # each step once, in ladder order

    engine = make_engine(db_url)
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT appeal_id, level FROM escalations ORDER BY id")).all()
    engine.dispose()
    assert sorted(rows) == sorted((i, lvl) for i in ids for lvl in range(1, 6))
    for i in ids:  # recorded in order too
        assert [lvl for a, lvl in rows if a == i] == [1, 2, 3, 4, 5]
