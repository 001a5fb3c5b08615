"""No personal data and no secrets in any log line (issue 13). A scenario runs
through the gateway and the services — appeals with names, phone numbers and an
e-mail address, tokens and API keys, good and refused — while every log line of
every container in this process is captured (root logger, INFO, SQLAlchemy's
statement log on too) and formatted as production formats it; then each line
is searched for what the scenario used. Real broker, database, HTTP."""
import json
import logging

import pytest

from kernel.logs import JsonFormatter
from services.inspections.service import InspectionsService
from tests.conftest import ENTERPRISE_A
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    LogTap, appeal_body, bearer, make_key, stack, token)

pytestmark = pytest.mark.integration

NAMES = ["欧阳晓峰", "司马如月", "Wanda Leakwell"]
PHONES = ["13987650123", "13987650456", "15912348765"]
EMAIL = "leak.probe@example.cn"


@pytest.fixture
def every_log_line():
    tap = LogTap()
    root, sql = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    levels = root.level, sql.level
    root.setLevel(logging.INFO)
    sql.setLevel(logging.INFO)  # every statement and its parameters, were they shown
    root.addHandler(tap)
    yield tap
    root.removeHandler(tap)
    root.setLevel(levels[0])
    sql.setLevel(levels[1])


def test_no_personal_data_or_secret_in_any_log_line(stack, start_service, db_factory,
                                                     every_log_line):
    # rule: GW-2  (logs never hold personal data or secrets)
    start_service(InspectionsService, DB_URL=db_factory("inspections"),
                  INS_CODE_KEY="log-scan-entry-code-key-0123456789")
    api = stack.gateway()
    ent_token = token("enterprise", ENTERPRISE_A, sub="user-a")
    ent = {"Authorization": f"Bearer {ent_token}"}
    expired_token = token("enterprise", ENTERPRISE_A, ttl=-300)
    channel = make_key(api, "channel", "hotline_12345", "12345 热线平台")
    secrets = [ent_token, expired_token, channel["key"], channel["key"].split("_", 2)[2]]  # qq_<id>_<secret>

    filed = api.post("/api/v1/appeals", who=ent, headers={"Idempotency-Key": "scan-1"},
                     json=appeal_body(contact_name=NAMES[0], contact_phone=PHONES[0]))
    assert filed.status_code == 201, filed.text
    # the same again (idempotent), bad input carrying personal data, a refusal
    assert api.post("/api/v1/appeals", who=ent, headers={"Idempotency-Key": "scan-1"},
                    json=appeal_body(contact_name=NAMES[0], contact_phone=PHONES[0])).status_code in (200, 201)
    assert api.post("/api/v1/appeals", who=ent, json=appeal_body(
        contact_name=NAMES[1], contact_phone=PHONES[1], town="atlantis")).status_code == 422
    assert api.get("/api/v1/appeals/999999", who=ent).status_code == 404
    assert api.get("/api/v1/appeals", headers={"Authorization": f"Bearer {expired_token}"}).status_code == 401
    assert api.get("/api/v1/appeals", headers={"X-API-Key": channel["key"][:-3] + "AAA"}).status_code == 401
    # Open311 with a name in Latin letters, a phone and an e-mail address
    open311 = api.post("/open311/v2/requests.json", data={
        "api_key": channel["key"], "service_code": "permit", "description": "审批超时",
        "first_name": "Wanda", "last_name": "Leakwell", "phone": PHONES[2], "email": EMAIL,
        "enterprise_code": ENTERPRISE_A, "town": "hongshi"})
    assert open311.status_code in (200, 201, 400), open311.text
    appeal_id = filed.json()["id"]
    assert api.get(f"/api/v1/appeals/{appeal_id}", who=ent).json()["contact_phone"].endswith(PHONES[0])
    assert api.post(f"/api/v1/appeals/{appeal_id}/accept", who=bearer("department", "approval"),
                    json={}).status_code == 200

    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in every_log_line.records]
    assert len(lines) > 10  # the capture saw the scenario (access lines, SQL, …)
    assert any("INSERT INTO appeals" in line for line in lines)  # SQL was logged, parameters not
    texts = lines + [json.dumps(json.loads(line), ensure_ascii=True) for line in lines]
    for probe in NAMES + PHONES + [EMAIL, "Leakwell"] + secrets:
        leaked = [line for line in texts if probe in line]
        assert not leaked, (probe, leaked[:3])
