"""Nothing accepted is lost: the outbox with the broker unreachable, idempotent
consumers, the ladder swept by two instances at once. Real broker, real DB."""
import datetime as dt
import json
import time
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa
from kombu import Connection, Producer

from kernel.calendar import utcnow
from kernel.contracts import SCHEMA_VERSION
from kernel.db import make_engine
from kernel.outbox import event_exchange
from services.appeals.service import AppealsService
from tests.conftest import ENTERPRISE_A
from tests.support.netproxy import TcpProxy

pytestmark = pytest.mark.integration


def appeal_body(**kw):
    body = {"channel": "hotline_12345", "category": "permit", "town": "hongshi",
            "enterprise_code": ENTERPRISE_A, "title": "用电报装", "content": "报装一个月未通电",
            "contact_name": "张明", "contact_phone": "13912340001"}
    body.update(kw)
    return body


def query(engine, sql):
    with engine.connect() as c:  # closed at once: SQLite has one writer
        return c.execute(sa.text(sql)).all()


def wait_for(predicate, timeout=30.0, every=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def test_appeal_created_while_broker_unreachable_is_kept_and_published_once(
        start_service, db_factory, amqp_uri, rpc, callers, event_tap):
    # rule: APP-1 (nothing accepted is lost)
    host, rest = amqp_uri.split("@", 1)[1].split("/", 1)
    proxy = TcpProxy(*host.split(":")[0:1], int(host.split(":")[1]))
    try:
        db_url = db_factory("appeals")
        relay_uri = f"amqp://guest:guest@127.0.0.1:{proxy.port}/{rest}"
        tap = event_tap("appeals")
        proxy.cut()  # the relay's path to the broker is down from the start
        start_service(AppealsService, DB_URL=db_url, OUTBOX_AMQP_URI=relay_uri,
                      OUTBOX_MAX_BACKOFF_SECONDS=0.5)
        with rpc(callers["hotline"]) as p:
            created = p.appeals.create_appeal(appeal_body())
            assert p.appeals.get_appeal(created["id"])["status"] == "assigned"  # stored at once
        engine = make_engine(db_url)
        pending = lambda: query(engine, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]  # noqa: E731
        assert pending() == 3  # created, assigned, status_changed wait in the outbox
        assert tap.drain(timeout=1.5) == []  # and nothing reached the broker

        proxy.restore()
        tap.drain(until=lambda r: len(r) >= 3, timeout=30)
        assert wait_for(lambda: pending() == 0)
        tap.drain(timeout=1.5)  # anything more would be a duplicate
        types = Counter(e["event_type"] for e in tap.received)
        assert types == {"appeal.created": 1, "appeal.assigned": 1, "appeal.status_changed": 1}
        assert {e["data"]["appeal_id"] for e in tap.received} == {created["id"]}
        engine.dispose()
    finally:
        proxy.close()


def publish(amqp_uri, source, event_type, data, event_id=None):
    envelope = {"event_id": event_id or str(uuid.uuid4()), "event_type": event_type,
                "schema_version": SCHEMA_VERSION, "occurred_at": utcnow().isoformat(),
                "source": source, "data": data}
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel(), exchange=event_exchange(source), serializer="json")
        producer.publish(envelope, routing_key=event_type, delivery_mode=2,
                         declare=[event_exchange(source)])
    return envelope["event_id"]


def test_redelivered_event_changes_nothing(start_service, db_factory, amqp_uri):
    # rule: APP-1 (consumers are idempotent by event_id)
    db_url = db_factory("appeals")
    start_service(AppealsService, DB_URL=db_url)
    engine = make_engine(db_url)
    q = lambda sql: query(engine, sql)  # noqa: E731
    data = {"credit_code": ENTERPRISE_A, "name": "示范县茶业有限公司", "town": "hongshi",
            "industry": "agriculture", "above_scale": True}
    event_id = publish(amqp_uri, "inspections", "enterprise.upserted", data)
    assert wait_for(lambda: q("SELECT name FROM enterprises") == [("示范县茶业有限公司",)])
    # the same event again, even with other data, is recognised and ignored
    publish(amqp_uri, "inspections", "enterprise.upserted", {**data, "name": "改名"}, event_id)
    marker = publish(amqp_uri, "inspections", "enterprise.upserted",
                     {**data, "credit_code": "91433126MA4L00020C", "name": "B"})
    assert wait_for(lambda: len(q("SELECT 1 FROM processed_events")) == 2)
    assert q("SELECT name FROM enterprises ORDER BY credit_code") == [("示范县茶业有限公司",), ("B",)]
    assert q(f"SELECT count(*) FROM processed_events WHERE event_id = '{marker}'") == [(1,)]
    engine.dispose()


def test_two_instances_sweeping_take_each_step_once(start_service, db_factory, rpc, callers,
                                                    event_tap):
    # rule: APP-5
    db_url = db_factory("appeals")
    tap = event_tap("appeals", "appeal.*")
    first = start_service(AppealsService, DB_URL=db_url, RECEIVED_AT_MAX_DAYS=90)
    long_ago = (utcnow() - dt.timedelta(days=60)).isoformat()
    with rpc(callers["hotline"]) as p:
        ids = [p.appeals.create_appeal(appeal_body(received_at=long_ago, title=f"t{i}"))["id"]
               for i in range(4)]
    first.stop()
    # two instances on the same database, sweeping every 0.1 s
    start_service(AppealsService, DB_URL=db_url, SWEEP_INTERVAL_SECONDS=0.1)
    start_service(AppealsService, DB_URL=db_url, SWEEP_INTERVAL_SECONDS=0.1)
    want = len(ids) * 5  # due_soon + 4 escalations each
    tap.drain(until=lambda r: sum(e["event_type"] in ("appeal.due_soon", "appeal.escalated")
                                  for e in r) >= want, timeout=60)
    tap.drain(timeout=2)  # several more sweeps by both instances: nothing new may come
    steps = Counter((e["data"]["appeal_id"], e["data"].get("step", "reminder"))
                    for e in tap.received if e["event_type"] in ("appeal.due_soon", "appeal.escalated"))
    assert steps == {(i, s): 1 for i in ids
                     for s in ("reminder", "supervision", "talk", "notice", "accountability")}
    engine = make_engine(db_url)
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT appeal_id, level FROM escalations")).all()
        levels = c.execute(sa.text("SELECT escalation_level, next_check_at FROM appeals")).all()
    engine.dispose()
    assert sorted(rows) == sorted((i, lvl) for i in ids for lvl in range(1, 6))
    assert set(levels) == {(5, None)}


def test_sweep_reads_only_due_appeals_through_its_index(start_service, db_factory):
    # rule: APP-5
    db_url = db_factory("appeals")
    start_service(AppealsService, DB_URL=db_url)
    engine = make_engine(db_url)
    sql = "SELECT id FROM appeals WHERE next_check_at <= :now ORDER BY next_check_at LIMIT 500"
    with engine.connect() as c:
        if engine.dialect.name == "sqlite":
            plan = " ".join(str(r) for r in c.execute(sa.text("EXPLAIN QUERY PLAN " + sql),
                                                      {"now": "2026-01-01"}))
        else:
            c.execute(sa.text("SET enable_seqscan = off"))
            plan = " ".join(r[0] for r in c.execute(sa.text("EXPLAIN " + sql), {"now": utcnow()}))
    engine.dispose()
    assert "ix_appeals_next_check_at" in plan, plan
