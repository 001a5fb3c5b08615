"""Issue #10's broken rules through the gateway, as a client meets them:
unstorable text (item 3) and channels by role (item 4)."""
import xml.etree.ElementTree as ET

import pytest
import sqlalchemy as sa

from kernel.db import make_engine
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    api, appeal_body, assert_problem, stack, who)

pytestmark = pytest.mark.integration


def test_item3_unstorable_text_is_422_naming_the_field(api, who):
    # rule: GW-1
    cases = [({"title": "营业执照\ud800"}, "title"),
             ({"attachments": [{"name": "材料\ud800.pdf", "url": "https://x.cn/a.pdf"}]},
              "attachments.0.name"),
             ({"content": "第一行\x01"}, "content"),
             ({"title": "\x1b[31m红色\x1b[0m"}, "title"),
             ({"contact_name": "张\x1b明"}, "contact_name")]
    for override, field in cases:
        r = api.post("/api/v1/appeals", who=who["taskforce"], json=appeal_body(**override))
        assert_problem(r, 422, field)
    assert api.get("/api/v1/appeals", who=who["taskforce"]).json()["items"] == []
    # the same in an action's text, and in an Open311 request
    made = api.post("/api/v1/appeals", who=who["ent_a"], json=appeal_body(enterprise_code=None))
    assert made.status_code == 201, made.text
    aid = made.json()["id"]
    api.post(f"/api/v1/appeals/{aid}/accept", who=who["lead"], json={})
    assert_problem(api.post(f"/api/v1/appeals/{aid}/reply", who=who["lead"],
                            json={"content": "已办\x01"}), 422, "content")
    r = api.post("/open311/v2/requests.json", headers=who["ent_a"], data={
        "service_code": "permit", "description": "说明\x1b", "first_name": "明",
        "last_name": "张", "phone": "13912340001", "attribute[town]": "hongshi"})
    assert r.status_code == 400 and "description" in r.text
    # tab and newline are text; the ledger still reads
    ok = api.post("/api/v1/appeals", who=who["ent_a"],
                  json=appeal_body(enterprise_code=None, content="一\t二\n三"))
    assert ok.status_code == 201 and ok.json()["content"] == "一\t二\n三"
    assert api.get("/api/v1/appeals", who=who["taskforce"]).status_code == 200


def test_item3_text_stored_before_the_fix_never_breaks_the_open311_xml(api, who, stack):
    # rule: GW-3
    made = api.post("/api/v1/appeals", who=who["ent_a"], json=appeal_body(enterprise_code=None))
    aid = made.json()["id"]
    # a row written before the boundary refused such text
    engine = make_engine(stack.appeals.config["DB_URL"])
    with engine.begin() as c:
        c.execute(sa.text("UPDATE appeals SET content = :c WHERE id = :id"),
                  {"c": "旧数据\x01\x1b[0m完", "id": aid})
    engine.dispose()
    r = api.get(f"/open311/v2/requests/{aid}.xml", headers=who["ent_a"])
    assert r.status_code == 200, r.text
    assert ET.fromstring(r.content).find("request").findtext("description") == "旧数据[0m完"


def test_item4_an_enterprise_cannot_claim_a_channel_not_its_own(api, who):
    # rule: APP-1
    for channel in ("leaders_wechat", "hotline_12345", "symposium"):
        r = api.post("/api/v1/appeals", who=who["ent_a"],
                     json=appeal_body(enterprise_code=None, channel=channel))
        assert_problem(r, 422, "channel")
    r = api.post("/api/v1/appeals", who=who["lead"], json=appeal_body(channel="one_tap"))
    assert_problem(r, 422, "channel")
    assert api.get("/api/v1/appeals", who=who["taskforce"]).json()["items"] == []
    mine = api.post("/api/v1/appeals", who=who["ent_a"],
                    json=appeal_body(enterprise_code=None, channel="one_tap"))
    letter = api.post("/api/v1/appeals", who=who["taskforce"],
                      json=appeal_body(channel="leaders_wechat"))
    assert (mine.json()["channel"], mine.json()["tier"]) == ("one_tap", "yellow")
    assert (letter.json()["channel"], letter.json()["tier"]) == ("leaders_wechat", "red")
