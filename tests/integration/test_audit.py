"""The audit trail: every write records who (the credential), when, what and
the request id, in the same transaction; append-only; exported to the task
force through the gateway. Real gateway and appeals containers, real DB."""
import pytest
import sqlalchemy as sa

from kernel.db import make_engine
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    api, appeal_body, assert_problem, bearer, stack)

pytestmark = pytest.mark.integration


def test_every_write_is_audited_with_who_when_what_and_request_id(api, stack):
    # rule: GW-2 (who did what is on record, for an inspection of the inspectors)
    taskforce = bearer("taskforce", "taskforce", sub="tf-7")
    made = api.post("/api/v1/appeals", who=taskforce, json=appeal_body(),
                    headers={"X-Request-ID": "req-audit-1"})
    assert made.status_code == 201, made.text
    appeal_id = made.json()["id"]
    # a read and a refused write change nothing, so they leave no audit row
    assert api.get(f"/api/v1/appeals/{appeal_id}", who=taskforce).status_code == 200
    assert_problem(api.post("/api/v1/appeals", who=taskforce, json=appeal_body(town="nowhere")),
                   422, "town")
    key = api.post("/api/v1/api-keys", who=bearer("admin", sub="admin-1"),
                   headers={"X-Request-ID": "req-audit-2"},
                   json={"kind": "department", "code": "market", "label": "市场监管系统"})
    assert key.status_code == 201, key.text

    rows = api.get("/api/v1/audit/appeals", who=taskforce).json()["items"]
    [row] = [r for r in rows if r["entrypoint"] == "create_appeal"]
    assert len(rows) == 1  # nothing for the read or the refusal
    assert row["credential"] == "taskforce:tf-7@taskforce" and row["service"] == "appeals"
    assert row["request_id"] == "req-audit-1" and row["at"]
    assert {"table": "appeals", "op": "insert", "key": str(appeal_id)} in row["changes"]
    assert not any(c["table"] in ("outbox", "processed_events") for c in row["changes"])

    [key_row] = api.get("/api/v1/audit/gateway", who=taskforce).json()["items"]
    assert key_row["entrypoint"] == "create_api_key" and key_row["request_id"] == "req-audit-2"
    assert key_row["credential"] == "admin:admin-1"
    # paging: after the last id there is nothing more
    page = api.get(f"/api/v1/audit/appeals?after_id={row['id']}", who=taskforce).json()
    assert page == {"items": [], "next_after_id": row["id"]}


def test_audit_export_is_for_staff_only_and_the_log_is_append_only(api, stack):
    # rule: GW-2
    assert_problem(api.get("/api/v1/audit/appeals", who=bearer("enterprise", "91433126MA4L00010B")), 403)
    assert_problem(api.get("/api/v1/audit/nothing", who=bearer("taskforce", "taskforce")), 404)
    assert_problem(api.get("/api/v1/audit/appeals?limit=0", who=bearer("taskforce", "taskforce")),
                   422, "limit")
    assert api.post("/api/v1/appeals", who=bearer("taskforce", "taskforce"),
                    json=appeal_body()).status_code == 201
    engine = make_engine(stack.appeals.config["DB_URL"])
    try:
        for statement in ("UPDATE audit_log SET credential = 'someone else'",
                          "DELETE FROM audit_log"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"):
                with engine.begin() as c:
                    c.execute(sa.text(statement))
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT count(*) FROM audit_log")).scalar() == 1
    finally:
        engine.dispose()
