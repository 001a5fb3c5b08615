"""The documents and the probes of the gateway (GW-1): /openapi.json validated
as OpenAPI 3, /docs readable without internet, /healthz, /readyz, /metrics,
and what a client sees when a service is down (a 504/503 problem, never a 500)."""
import re
import time

import pytest
from openapi_spec_validator import validate

from services.inspections.service import InspectionsService
from services.notify.service import NotifyService
from services.scoring.service import ScoringService
from tests.integration.test_gateway_inspections import OPERATIONS as INSPECTION_OPERATIONS
from tests.integration.test_gateway_pages import OPERATIONS as PAGE_OPERATIONS
from tests.integration.test_scoring_gateway import OPERATIONS as SCORING_OPERATIONS
from tests.support.probes import admin_get
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    api, assert_problem, bearer, stack, who)
from tests.integration.test_gateway_notify import OPERATIONS as NOTIFY_OPERATIONS

pytestmark = pytest.mark.integration

ACTIONS = ("assign", "accept", "reply", "transfer", "return", "extend", "approve_extension",
           "reject_extension", "instruct", "feedback", "reopen")
OPERATIONS = {
    ("/api/v1/appeals", "post"), ("/api/v1/appeals", "get"),
    ("/api/v1/appeals/{appeal_id}", "get"), ("/api/v1/appeals/export", "get"),
    ("/api/v1/appeals/stats", "get"), ("/api/v1/reference", "get"),
    ("/api/v1/api-keys", "post"), ("/api/v1/api-keys", "get"),
    ("/api/v1/api-keys/{key_id}", "delete"),
    ("/open311/v2/services.{fmt}", "get"), ("/open311/v2/services/{service_code}.{fmt}", "get"),
    ("/open311/v2/requests.{fmt}", "post"), ("/open311/v2/requests.{fmt}", "get"),
    ("/open311/v2/requests/{service_request_id}.{fmt}", "get"),
    ("/healthz", "get"), ("/readyz", "get"), ("/openapi.json", "get"), ("/api/v1/audit/{service}", "get"),
    ("/docs", "get"),
    # export jobs (issue 13)
    ("/api/v1/appeals/exports", "post"), ("/api/v1/exports/{job_id}", "get"),
    ("/api/v1/exports/{job_id}/file", "get"),
    ("/api/v1/routes", "get"), ("/api/v1/routes", "post"), ("/api/v1/routes/history", "get"),
    ("/api/v1/routes/{category}/{town}", "put"), ("/api/v1/routes/{category}/{town}", "delete"),
    ("/api/v1/lists/{list_name}", "get"),
    ("/api/v1/rectification-lists", "post"), ("/api/v1/rectification-lists", "get"),
    ("/api/v1/rectification-lists/{list_id}", "get"),
    ("/api/v1/rectification-items/{item_id}/close", "post"),
} | {(f"/api/v1/appeals/{{appeal_id}}/{a}", "post") for a in ACTIONS} | INSPECTION_OPERATIONS \
    | SCORING_OPERATIONS | NOTIFY_OPERATIONS | PAGE_OPERATIONS


def test_openapi_document_is_valid_and_matches_what_is_validated(api, who):
    # rule: GW-1
    spec = api.get("/openapi.json").json()  # public
    validate(spec)  # raises unless a valid OpenAPI 3 document
    assert spec["openapi"].startswith("3.") and spec["info"]["version"] == "1.0.0"
    served = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served == OPERATIONS
    schemas = spec["components"]["schemas"]
    assert {"channel", "enterprise_code", "category", "town", "title", "content", "contact_name",
            "contact_phone", "received_at"} <= set(schemas["AppealCreate"]["properties"])
    assert set(schemas["AppealCreate"]["required"]) == {"category", "town", "title", "content",
                                                        "contact_name", "contact_phone"}
    rating = schemas["FeedbackBody"]["properties"]["rating"]
    assert (rating["minimum"], rating["maximum"]) == (1, 5)
    create = spec["paths"]["/api/v1/appeals"]["post"]
    assert {p["name"] for p in create["parameters"]} == {"Idempotency-Key"}
    assert create["x-roles"] == ["enterprise", "department", "channel", "taskforce", "admin"]
    assert spec["paths"]["/api/v1/appeals/{appeal_id}/feedback"]["post"]["x-roles"] == ["enterprise"]
    # a body built from the document's own examples is what the gateway accepts
    example = {name: prop["example"] for name, prop in schemas["AppealCreate"]["properties"].items()
               if "example" in prop and name != "received_at"}
    made = api.post("/api/v1/appeals", who=who["taskforce"], json=example)
    assert made.status_code == 201, made.text
    # and a field the document does not know is refused
    assert_problem(api.post("/api/v1/appeals", who=who["taskforce"], json={**example, "x": 1}), 422, "x")


def test_docs_page_works_without_internet(api):
    # rule: GW-1
    page = api.get("/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    for path, _ in OPERATIONS:
        assert path in html, path
    assert not re.search(r"<script|<link|src=|https?://(?!localhost)", html, re.I)
    for slug in ("invalid-input", "not-found", "too-many-requests", "conflict", "unauthorized"):
        assert f'id="problem-{slug}"' in html
    assert "curl " in html and "Idempotency-Key" in html


def test_probes_metrics_and_a_service_that_is_down(stack, start_service, db_factory):
    # rule: GW-1
    start_service(InspectionsService, DB_URL=db_factory("inspections"),
                  INS_SEED_REGISTERS="none", INS_SEED_DIRECTORY="none")
    start_service(ScoringService, DB_URL=db_factory("scoring"))
    start_service(NotifyService, DB_URL=db_factory("notify"))
    api = stack.gateway(RPC_TIMEOUT_SECONDS=10)
    taskforce = bearer("taskforce", "taskforce")
    assert api.get("/healthz").json() == {"status": "ok", "service": "gateway"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "broker": "ok", "database": "ok",
                            "services": {"appeals": "ok", "inspections": "ok", "notify": "ok",
                                         "scoring": "ok"}}
    assert api.get("/api/v1/reference", who=taskforce).status_code == 200
    # /metrics is on the admin port only: the public port (behind the Ingress) has none
    assert_problem(api.get("/metrics"), 404)
    metrics = admin_get(api.container, "/metrics")
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    assert 'qinqing_gateway_responses_total{method="GET",route="/readyz",status="200"} 1.0' in metrics.text
    assert 'qinqing_entrypoint_calls_total{entrypoint="reference",service="gateway"} 1.0' in metrics.text
    assert admin_get(api.container, "/readyz").json()["status"] == "ready"

    stack.appeals.stop()  # the appeals service goes away
    # the gateway stays ready: its readiness is its own, not its services'
    still = api.get("/readyz")
    assert still.status_code == 200 and still.json()["status"] == "ready"
    assert still.json()["services"] == {"appeals": "down", "inspections": "ok", "notify": "ok",
                                       "scoring": "ok"}
    assert admin_get(api.container, "/readyz").status_code == 200
    started = time.monotonic()
    down = api.get("/api/v1/reference", who=taskforce)
    assert time.monotonic() - started < 2  # not the 10 s RPC timeout
    body = assert_problem(down, 503)
    assert int(down.headers["Retry-After"]) >= 1
    assert "appeals" not in body["detail"]  # no internals in the answer
    # the other service's routes keep working
    assert api.get("/api/v1/inspections", who=taskforce).status_code == 200
    assert api.get("/healthz").status_code == 200  # alive all the same
