"""Open311 and list endpoints bound their fan-out and page sizes (issue 13):
one request never turns into thousands of RPCs or an unbounded page. Through
the gateway over HTTP, real broker and database."""
import pytest

from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    api, appeal_body, assert_problem, stack, who)
from tests.integration.test_gateway_open311 import open311_error

pytestmark = pytest.mark.integration


def test_open311_refuses_unbounded_fan_out(api, who):
    # rule: GW-1
    key = {"api_key": who["channel_key"]["X-API-Key"]}
    many_ids = ",".join(str(i) for i in range(1, 1001))
    errors = open311_error(api.get("/open311/v2/requests.json",
                                   params={**key, "service_request_id": many_ids}), 400)
    assert any("service_request_id" in e for e in errors)
    many_codes = ",".join(f"code{i}" for i in range(100))
    errors = open311_error(api.get("/open311/v2/requests.json",
                                   params={**key, "service_code": many_codes}), 400)
    assert any("service_code" in e for e in errors)
    # within the bounds it answers
    assert api.get("/open311/v2/requests.json",
                   params={**key, "service_request_id": "1,2,3"}).status_code == 200


def test_list_pages_are_bounded(api, who):
    # rule: APP-8
    r = api.get("/api/v1/appeals", who=who["taskforce"], params={"limit": 100_000})
    assert_problem(r, 422, "limit")
    assert api.get("/api/v1/appeals", who=who["taskforce"], params={"limit": 500}).status_code == 200
