"""1,000 appeals through the gateway while the broker is stopped and started
in the middle: every appeal that got a 201 is stored exactly once, and each of
its events is handled exactly once downstream (counted in the recorder's
database). Real gateway, appeals and recorder containers; the chaos broker
and PostgreSQL cluster."""
import time
import uuid

import eventlet
import pytest
import requests

from gateway.service import GatewayService
from services.appeals.service import AppealsService
from tests.chaos.conftest import count, record_figures
from tests.chaos.recorder.service import RecorderService
from tests.conftest import ENTERPRISE_A
from tests.integration.test_gateway_kit import SECRET, UNLIMITED, bearer
from tests.integration.test_reliability import wait_for

pytestmark = pytest.mark.chaos

APPEALS = 1000
CONCURRENCY = 20
EVENTS_PER_APPEAL = ("appeal.created", "appeal.assigned", "appeal.status_changed")




def test_thousand_appeals_through_a_broker_restart(start_service, db_factory, rabbit):
    # rule: APP-1 (nothing accepted is lost; each event takes effect once)
    appeals_db, recorder_db = db_factory("appeals"), db_factory("recorder")
    start_service(AppealsService, DB_URL=appeals_db, OUTBOX_MAX_BACKOFF_SECONDS=1)
    start_service(RecorderService, DB_URL=recorder_db)
    gateway = start_service(GatewayService, DB_URL=db_factory("gateway"),
                            GATEWAY_JWT_SECRET=SECRET, RPC_TIMEOUT_SECONDS=5, **UNLIMITED)
    base = f"http://{gateway.config['WEB_SERVER_ADDRESS']}"
    who = bearer("taskforce", "taskforce")
    statuses, accepted = [], {}  # title → appeal id of each 201

    def file(i):
        session = requests.Session()
        session.trust_env = False
        title = f"chaos-{i}-{uuid.uuid4().hex[:6]}"
        body = {"channel": "mini_program", "category": "permit", "town": "hongshi",
                "enterprise_code": ENTERPRISE_A, "title": title, "content": "报装未通电",
                "contact_name": "张明", "contact_phone": "13912340001"}
        # a client retries a refusal with the same Idempotency-Key, as documented
        headers = {**who, "Idempotency-Key": f"chaos-{title}"}
        for _ in range(3):
            try:
                r = session.post(base + "/api/v1/appeals", json=body, headers=headers, timeout=30)
            except requests.RequestException:
                statuses.append("connection error")
                eventlet.sleep(1)
                continue
            statuses.append(r.status_code)
            if r.status_code == 201:
                accepted[title] = r.json()["id"]
                break
            eventlet.sleep(1)
        session.close()

    started = time.monotonic()
    pool = eventlet.GreenPool(CONCURRENCY)
    for i in range(APPEALS):
        if i == APPEALS // 3:
            rabbit.stop_app()  # the broker goes away in the middle of the burst

            def restart():
                eventlet.sleep(3)
                rabbit.start_app()
            restarter = eventlet.spawn(restart)
        pool.spawn_n(file, i)
    pool.waitall()
    restarter.wait()
    burst_seconds = time.monotonic() - started
    print(f"burst {burst_seconds:.1f}s", {s: statuses.count(s) for s in set(statuses)})

    assert 500 not in statuses and 502 not in statuses  # refusals were clean: 503/504
    # most get through (on a loaded machine some clients give up after 3 tries)
    assert len(accepted) > APPEALS // 2, statuses.count(201)
    # every 201 is stored exactly once
    stored = dict(count(appeals_db, "SELECT title, count(*) FROM appeals "
                                    "WHERE title LIKE 'chaos-%' GROUP BY title"))
    assert all(stored.get(title) == 1 for title in accepted)
    assert set(count(appeals_db, "SELECT id FROM appeals WHERE title = :t", t=t)[0][0]
               for t in list(accepted)[:20]) == set(list(accepted.values())[:20])
    # every event of every stored appeal handled exactly once downstream
    outbox = lambda: count(appeals_db, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]  # noqa: E731
    assert wait_for(lambda: outbox() == 0, timeout=120)
    want = {r[0] for r in count(appeals_db, "SELECT event_id FROM outbox WHERE event_type IN "
                                            "('appeal.created','appeal.assigned','appeal.status_changed')")}
    handled = lambda: count(recorder_db, "SELECT event_id, count(*) FROM received GROUP BY event_id")  # noqa: E731
    assert wait_for(lambda: len(handled()) >= len(want), timeout=120)
    time.sleep(2)  # anything more now would be a duplicate
    rows = handled()
    duplicates = sum(n - 1 for _, n in rows)
    assert {e for e, _ in rows} == want and duplicates == 0
    ids_with_events = {r[0] for r in count(recorder_db, "SELECT DISTINCT appeal_id FROM received")}
    assert set(accepted.values()) <= ids_with_events
    record_figures("broker_restart", {
        "appeals_sent": APPEALS, "answered_201": len(accepted),
        "refused_then_retried": sum(1 for s in statuses if s != 201),
        "appeals_stored": sum(stored.values()), "events_expected": len(want),
        "events_handled": len(rows), "duplicates": duplicates,
        "burst_seconds": round(burst_seconds, 1)})
