"""Invalid Unicode is refused at the edge, and control characters never reach
the XML (issue 13). Through the gateway over HTTP, real services."""
import xml.etree.ElementTree as ET

import pytest

from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    api, appeal_body, assert_problem, stack, who)

pytestmark = pytest.mark.integration


def test_lone_surrogates_are_refused_and_nothing_is_stored(api, who):
    # rule: APP-1
    raw = ('{"channel": "mini_program", "category": "permit", "town": "hongshi", '
           '"title": "bad \\ud800 text", "content": "x", "contact_name": "张明", '
           '"contact_phone": "13912340001"}')
    r = api.post("/api/v1/appeals", who=who["ent_a"], data=raw.encode(),
                 headers={"Content-Type": "application/json"})
    assert_problem(r, 422, "title")  # named, like any field that cannot be stored
    assert api.get("/api/v1/appeals", who=who["taskforce"]).json()["items"] == []


def test_control_characters_are_refused_so_they_never_reach_the_open311_xml(api, who):
    # rule: GW-1
    # (text stored before the boundary refused it: test_gateway_rules_fixed.py, item 3)
    filed = api.post("/api/v1/appeals", who=who["ent_a"],
                     json=appeal_body(title="标题\x01\x08\x0b", content="内容\x1f\x0c结束",
                                      enterprise_code=None))
    body = assert_problem(filed, 422)
    assert set(body["errors"]) == {"title", "content"}
    clean = api.post("/api/v1/appeals", who=who["ent_a"], json=appeal_body(enterprise_code=None))
    assert clean.status_code == 201, clean.text
    r = api.get("/open311/v2/requests.xml", params={"api_key": who["channel_key"]["X-API-Key"],
                                                    "service_request_id": str(clean.json()["id"])})
    assert r.status_code == 200
    ET.fromstring(r.content)
    t = api.get(f"/open311/v2/requests/{clean.json()['id']}.xml", headers=who["taskforce"])
    assert t.status_code == 200, t.text
    ET.fromstring(t.content)
