"""PostgreSQL stopped under load, and one service killed: the gateway answers
503 (problem+json, Retry-After) while it lasts, never a 500, stays ready when
only a service is gone, and nothing it accepted is lost."""
import signal
import time
import uuid

import eventlet
import pytest
import requests

from gateway.service import GatewayService
from services.appeals.service import AppealsService
from services.inspections.service import InspectionsService
from tests.chaos.conftest import count, record_figures
from tests.chaos.processes import ServiceProcess
from tests.chaos.recorder.service import RecorderService
from tests.conftest import ENTERPRISE_A
from tests.integration.test_gateway_kit import SECRET, UNLIMITED, bearer
from tests.integration.test_reliability import wait_for
from tests.support.probes import admin_get

pytestmark = pytest.mark.chaos

WHO = bearer("taskforce", "taskforce")


def client():
    s = requests.Session()
    s.trust_env = False
    return s


def appeal_body(title):
    return {"channel": "mini_program", "category": "permit", "town": "hongshi",
            "enterprise_code": ENTERPRISE_A, "title": title, "content": "报装未通电",
            "contact_name": "张明", "contact_phone": "13912340001"}




def test_postgres_stopped_under_load(start_service, db_factory, pg):
    # rule: APP-1 (nothing accepted is lost), GW-1 (refusals are problems, never a 500)
    appeals_db, recorder_db = db_factory("appeals"), db_factory("recorder")
    start_service(AppealsService, DB_URL=appeals_db)
    start_service(RecorderService, DB_URL=recorder_db)
    gateway = start_service(GatewayService, DB_URL=db_factory("gateway"),
                            GATEWAY_JWT_SECRET=SECRET, RPC_TIMEOUT_SECONDS=5, **UNLIMITED)
    base = f"http://{gateway.config['WEB_SERVER_ADDRESS']}"
    phase = {"now": "before"}
    results = []  # (phase, status, title, id)
    stop = eventlet.Event()

    def load():
        s = client()
        while not stop.ready():
            title = f"pg-{uuid.uuid4().hex[:10]}"
            try:
                r = s.post(base + "/api/v1/appeals", json=appeal_body(title), timeout=30,
                           headers={**WHO, "Idempotency-Key": title})
                when = phase["now"]  # when it was answered
                status = r.status_code
                ok = status == 201
                results.append((when, status, title, r.json()["id"] if ok else None,
                                r.headers.get("Retry-After"),
                                r.headers.get("Content-Type", "")))
            except requests.RequestException:
                results.append((phase["now"], "connection error", title, None, None, ""))
            eventlet.sleep(0.05)
        s.close()

    threads = [eventlet.spawn(load) for _ in range(5)]
    eventlet.sleep(4)
    phase["now"] = "outage"
    pg.stop("fast")
    eventlet.sleep(6)
    phase["now"] = "restarting"
    pg.start()
    phase["now"] = "after"
    eventlet.sleep(8)
    stop.send(True)
    for t in threads:
        t.wait()

    by_phase = {p: [r for r in results if r[0] == p] for p in ("before", "outage", "after")}
    statuses = [r[1] for r in results]
    assert 500 not in statuses and 502 not in statuses and "connection error" not in statuses
    assert {r[1] for r in by_phase["before"]} == {201}
    outage = [r for r in by_phase["outage"] if r[1] != 201]
    assert outage and all(r[1] == 503 and r[4] and r[5].startswith("application/problem+json")
                          for r in outage)
    assert 201 in {r[1] for r in by_phase["after"][-10:]}  # succeeds again after
    accepted = {r[2]: r[3] for r in results if r[1] == 201}
    stored = dict(count(appeals_db, "SELECT title, count(*) FROM appeals GROUP BY title"))
    assert all(stored.get(t) == 1 for t in accepted)  # nothing accepted lost, none twice
    pending = lambda: count(appeals_db, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]  # noqa: E731
    assert wait_for(lambda: pending() == 0, timeout=120)
    created = lambda: count(recorder_db, "SELECT appeal_id, count(*) FROM received "  # noqa: E731
                                         "WHERE event_type = 'appeal.created' GROUP BY appeal_id")
    assert wait_for(lambda: set(accepted.values()) <= {a for a, _ in created()}, timeout=120)
    rows = count(recorder_db, "SELECT event_id, count(*) FROM received GROUP BY event_id")
    duplicates = sum(n - 1 for _, n in rows)
    assert duplicates == 0
    record_figures("postgres_outage", {
        "requests": len(results), "answered_201": len(accepted),
        "answered_503_during_outage": len(outage), "answered_500": statuses.count(500),
        "appeals_stored": sum(stored.values()), "events_handled": len(rows),
        "duplicates": duplicates})


def test_one_service_killed_gateway_stays_ready(start_service, db_factory, amqp_uri, tmp_path):
    # rule: GW-1 (one service down does not take the gateway down)
    appeals = ServiceProcess("services.appeals.service:AppealsService",
                             {"AMQP_URI": amqp_uri, "DB_URL": db_factory("appeals"),
                              "WEB_SERVER_ADDRESS": "127.0.0.1:0"}, tmp_path).start()
    try:
        start_service(InspectionsService, DB_URL=db_factory("inspections"),
                      INS_SEED_REGISTERS="none", INS_SEED_DIRECTORY="none")
        gateway = start_service(GatewayService, DB_URL=db_factory("gateway"),
                                GATEWAY_JWT_SECRET=SECRET, **UNLIMITED)
        base = f"http://{gateway.config['WEB_SERVER_ADDRESS']}"
        s = client()
        assert s.get(base + "/api/v1/reference", headers=WHO, timeout=30).status_code == 200
        appeals.signal(signal.SIGKILL)
        appeals.wait(timeout=10)
        time.sleep(1.5)  # the broker notices the dead connection; the circuit looks again
        timings = []
        for _ in range(5):
            started = time.monotonic()
            r = s.get(base + "/api/v1/reference", headers=WHO, timeout=30)
            timings.append(time.monotonic() - started)
            assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1
            assert r.headers["Content-Type"].startswith("application/problem+json")
        assert max(timings) < 2
        assert s.get(base + "/api/v1/inspections", headers=WHO, timeout=30).status_code == 200
        ready = s.get(base + "/readyz", timeout=30)
        assert ready.status_code == 200 and ready.json()["services"]["appeals"] == "down"
        assert admin_get(gateway, "/readyz").status_code == 200
        record_figures("service_killed", {"slowest_503_seconds": round(max(timings), 3),
                                          "other_service_status": 200, "gateway_ready": True})
    finally:
        appeals.close()
