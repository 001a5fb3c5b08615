"""API keys belong to an organisation, not to the key (issue 13): rotating a
channel integrator's key never hides its earlier appeals. Through the gateway,
real broker and database."""
import pytest

from tests.conftest import ENTERPRISE_B
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    api, appeal_body, assert_problem, bearer, make_key, stack)

pytestmark = pytest.mark.integration


def test_rotating_a_channel_key_keeps_the_organisations_appeals(api):
    # rule: GW-3
    old = make_key(api, "channel", "hotline_12345", "12345 热线平台 2025")
    body = appeal_body(channel=None, enterprise_code=ENTERPRISE_B)
    filed = api.post("/api/v1/appeals", headers={"X-API-Key": old["key"]}, json=body)
    assert filed.status_code == 201, filed.text
    appeal_id = filed.json()["id"]
    admin = bearer("admin", sub="admin-1")
    new = make_key(api, "channel", "hotline_12345", "12345 热线平台 2026")
    assert api.delete(f"/api/v1/api-keys/{old['id']}", who=admin).status_code == 204

    rotated = {"X-API-Key": new["key"]}
    assert api.get(f"/api/v1/appeals/{appeal_id}", headers=rotated).status_code == 200
    assert appeal_id in [a["id"] for a in api.get("/api/v1/appeals", headers=rotated).json()["items"]]
    # the revoked key itself is refused; another channel's key still sees nothing of it
    assert_problem(api.get(f"/api/v1/appeals/{appeal_id}", headers={"X-API-Key": old["key"]}), 401)
    media = {"X-API-Key": make_key(api, "channel", "media", "媒体问政平台")["key"]}
    assert_problem(api.get(f"/api/v1/appeals/{appeal_id}", headers=media), 404)
    assert api.get("/api/v1/appeals", headers=media).json()["items"] == []
