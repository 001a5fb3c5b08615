"""Metrics and logs of a running service (the foundation's operability)."""
import io
import json
import logging

import pytest

from kernel.logs import ContextFilter, JsonFormatter
from services.appeals.service import AppealsService
from tests.conftest import ENTERPRISE_A
from tests.support.probes import admin_get, scrape_until

pytestmark = pytest.mark.integration


def test_metrics_per_entrypoint_and_business_gauges(start_service, db_factory, rpc, callers):
    appeals = start_service(AppealsService, DB_URL=db_factory("appeals"),
                            RECEIVED_AT_MAX_DAYS=3650,
                            GAUGE_INTERVAL_SECONDS=0.2)  # back-dated far, on purpose
    with rpc(callers["hotline"]) as p:
        p.appeals.create_appeal({
            "channel": "hotline_12345", "category": "permit", "town": "hongshi",
            "enterprise_code": ENTERPRISE_A, "title": "t", "content": "c",
            "contact_name": "张明", "contact_phone": "13912340001",
            "received_at": "2026-01-05T09:00:00+08:00"})  # long overdue
        with pytest.raises(Exception):
            p.appeals.get_appeal(999999)
    overdue = 'qinqing_appeals_overdue{department="approval",tier="yellow"} 1.0'
    text = scrape_until(appeals, [overdue])  # the gauges refresh on a timer, not per scrape
    assert 'qinqing_entrypoint_calls_total{entrypoint="create_appeal",service="appeals"} 1.0' in text
    assert 'qinqing_entrypoint_errors_total{entrypoint="get_appeal",error="NotFound",service="appeals"} 1.0' in text
    assert 'qinqing_entrypoint_latency_seconds_count{entrypoint="create_appeal",service="appeals"} 1.0' in text
    assert 'qinqing_appeals_open{department="approval",tier="yellow"} 1.0' in text
    assert overdue in text
    assert "qinqing_outbox_pending" in text
    # the admin port answers its own probes; the service's web port has no /metrics
    assert admin_get(appeals, "/healthz").json() == {"status": "ok", "service": "appeals"}
    ready = admin_get(appeals, "/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"service": "appeals", "database": "ok", "broker": "ok",
                            "status": "ready"}


def test_logs_are_json_with_the_call_id_and_no_phone_in_clear(start_service, db_factory, rpc,
                                                              callers):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        start_service(AppealsService, DB_URL=db_factory("appeals"))
        with rpc(callers["ent_a"]) as p:
            with pytest.raises(Exception):
                p.appeals.create_appeal({"channel": "mini_program", "category": "nonsense",
                                         "town": "hongshi", "title": "t", "content": "c",
                                         "contact_name": "张明", "contact_phone": "13912340001"})
        logging.getLogger("test").info("calling back 13912340001 about it")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    worker_lines = [rec for rec in lines if rec.get("entrypoint") == "create_appeal"]
    assert worker_lines and all(rec.get("call_id", "").startswith("standalone_rpc_proxy")
                                or "appeals.create_appeal" in rec.get("call_id", "")
                                for rec in worker_lines)
    assert "13912340001" not in stream.getvalue()
    assert any("139****0001" in rec["msg"] for rec in lines)
