"""Open311 GeoReport v2 through the gateway, in both formats (GW-3): a 311
client files and follows service requests, which are appeals like any other."""
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import ENTERPRISE_A, ENTERPRISE_B
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    api, appeal_body, stack, who)

pytestmark = pytest.mark.integration

SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords",
                  "group"}
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code",
                  "description", "agency_responsible", "service_notice", "requested_datetime",
                  "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                  "lat", "long", "media_url"}


def xml_of(response, root):
    assert response.headers["Content-Type"].startswith("text/xml"), response.text
    assert response.content.startswith(b"<?xml")
    tree = ET.fromstring(response.content)
    assert tree.tag == root
    return tree


def open311_error(response, status, fmt="json"):
    """The spec's error list, with this status."""
    assert response.status_code == status, response.text
    if fmt == "xml":
        errors = xml_of(response, "errors").findall("error")
        assert errors and all(e.findtext("code") == str(status) for e in errors)
        return [e.findtext("description") for e in errors]
    body = response.json()
    assert isinstance(body, list) and body and all(e["code"] == status for e in body)
    return [e["description"] for e in body]


def test_services_and_their_definitions_in_both_formats(api, who):
    # rule: GW-3
    categories = {c["code"]: c["name"] for c in
                  api.get("/api/v1/reference", who=who["ent_a"]).json()["categories"]}
    services = api.get("/open311/v2/services.json")  # public, as the spec has it
    assert services.status_code == 200
    assert {s["service_code"]: s["service_name"] for s in services.json()} == categories
    assert all(set(s) == SERVICE_FIELDS and s["metadata"] is True and s["type"] == "realtime"
               for s in services.json())
    tree = xml_of(api.get("/open311/v2/services.xml"), "services")
    assert {s.findtext("service_code"): s.findtext("service_name")
            for s in tree.findall("service")} == categories
    assert {s.findtext("metadata") for s in tree.findall("service")} == {"true"}

    definition = api.get("/open311/v2/services/permit.json").json()
    assert definition["service_code"] == "permit"
    attributes = {a["code"]: a for a in definition["attributes"]}
    assert list(attributes) == ["enterprise_code", "town", "title"]
    assert attributes["enterprise_code"]["required"] and attributes["town"]["required"]
    assert not attributes["title"]["required"]
    assert attributes["town"]["datatype"] == "singlevaluelist"
    assert "hongshi" in {v["key"] for v in attributes["town"]["values"]}
    tree = xml_of(api.get("/open311/v2/services/permit.xml"), "service_definition")
    assert [a.findtext("code") for a in tree.find("attributes").findall("attribute")] == [
        "enterprise_code", "town", "title"]
    assert "hongshi" in [v.findtext("key") for v in tree.iter("value")]
    for fmt in ("json", "xml"):
        assert "service_code" in open311_error(api.get(f"/open311/v2/services/nope.{fmt}"), 404, fmt)[0]


def test_service_requests_are_appeals_in_both_formats(api, who):
    # rule: GW-3
    channel_key = who["channel_key"]["X-API-Key"]
    form = {"api_key": channel_key, "jurisdiction_id": "demo", "device_id": "kiosk-7",
            "service_code": "permit", "description": "营业执照变更迟迟未办\n提交材料已两周, 仍未办结",
            "first_name": "明", "last_name": "张", "phone": "13912340001",
            "address_string": "红石林镇老街 8 号", "lat": "28.61", "long": "109.95",
            "media_url": "https://img.example.cn/p/1.jpg",
            "attribute[enterprise_code]": ENTERPRISE_A, "attribute[town]": "hongshi"}
    created = api.post("/open311/v2/requests.json", data=form)
    assert created.status_code == 200, created.text
    [receipt] = created.json()
    assert set(receipt) == {"service_request_id", "service_notice", "account_id"}
    first = receipt["service_request_id"]
    appeal = api.get(f"/api/v1/appeals/{first}", who=who["taskforce"]).json()
    assert (appeal["channel"], appeal["enterprise_code"], appeal["category"], appeal["town"],
            appeal["contact_name"], appeal["contact_phone"], appeal["title"]) == (
        "hotline_12345", ENTERPRISE_A, "permit", "hongshi", "张明", "+8613912340001", "营业执照变更迟迟未办")
    assert appeal["content"] == form["description"]  # exactly as sent
    assert appeal["attachments"] == [{"name": "media_url", "url": "https://img.example.cn/p/1.jpg"}]

    tree = xml_of(api.post("/open311/v2/requests.xml", data={
        **form, "attribute[title]": "第二件事", "service_code": "tax"}), "service_requests")
    second = tree.find("request").findtext("service_request_id")
    assert second.isdigit() and second != first
    dept_key = {"X-API-Key": who["dept_key"]["X-API-Key"]}
    by_dept = api.post("/open311/v2/requests.json", headers=dept_key,
                       data={k: v for k, v in form.items() if k != "api_key"})
    by_enterprise = api.post("/open311/v2/requests.json", headers=who["ent_b"], data={
        k: v for k, v in form.items() if k not in ("api_key", "attribute[enterprise_code]")})
    assert api.get(f"/api/v1/appeals/{by_dept.json()[0]['service_request_id']}",
                   who=who["taskforce"]).json()["channel"] == "referral"
    assert api.get(f"/api/v1/appeals/{by_enterprise.json()[0]['service_request_id']}",
                   who=who["taskforce"]).json()["enterprise_code"] == ENTERPRISE_B

    mine = api.get("/open311/v2/requests.json", params={"api_key": channel_key})
    assert [r["service_request_id"] for r in mine.json()] == [second, first]  # only the key's own
    assert all(set(r) == REQUEST_FIELDS and r["status"] == "open" for r in mine.json())
    newest = mine.json()[1]
    assert (newest["service_code"], newest["service_name"], newest["agency_responsible"],
            newest["address"]) == ("permit", "审批许可", "县行政审批服务局", "红石林镇老街 8 号")
    assert (newest["lat"], newest["long"], newest["description"]) == (28.61, 109.95, form["description"])
    tree = xml_of(api.get("/open311/v2/requests.xml", params={"api_key": channel_key}),
                  "service_requests")
    assert [r.findtext("service_request_id") for r in tree.findall("request")] == [second, first]
    by = lambda **q: [r["service_request_id"] for r in api.get(  # noqa: E731
        "/open311/v2/requests.json", params={"api_key": channel_key, **q}).json()]
    assert by(service_code="tax") == [second] and by(service_code="permit,tax") == [second, first]
    assert by(status="closed") == [] and by(status="open") == [second, first]
    assert by(service_request_id=f"{first},999999") == [first]
    assert by(start_date="2099-01-01T00:00:00+08:00") == []

    # closing the appeal closes the request, and its reply becomes the status notes
    lead, ent_a = who["lead"], who["ent_a"]
    api.post(f"/api/v1/appeals/{first}/accept", who=lead, json={})
    api.post(f"/api/v1/appeals/{first}/reply", who=lead, json={"content": "已办结, 新执照已寄出"})
    api.post(f"/api/v1/appeals/{first}/feedback", who=ent_a, json={"rating": 5})
    tree = xml_of(api.get(f"/open311/v2/requests/{first}.xml", params={"api_key": channel_key}),
                  "service_requests")
    [one] = tree.findall("request")
    assert (one.findtext("status"), one.findtext("status_notes")) == ("closed", "已办结, 新执照已寄出")
    assert by(status="closed") == [first]

    # not the caller's, or not there: the same 404
    others = api.post("/api/v1/appeals", who=ent_a, json=appeal_body(enterprise_code=None)).json()
    for fmt in ("json", "xml"):
        for rid in (others["id"], 999999, "abc"):
            open311_error(api.get(f"/open311/v2/requests/{rid}.{fmt}",
                                  params={"api_key": channel_key}), 404, fmt)


def test_open311_refusals_in_the_spec_format(api, who):
    # rule: GW-3
    key = who["channel_key"]["X-API-Key"]
    good = {"api_key": key, "service_code": "permit", "description": "营业执照变更迟迟未办",
            "last_name": "张", "phone": "13912340001", "address_string": "红石林镇老街 8 号",
            "attribute[enterprise_code]": ENTERPRISE_A, "attribute[town]": "hongshi"}
    cases = [
        ({"address_string": None}, 400, "address_string"),  # the spec: a location is required
        ({"address_string": None, "lat": "28.61"}, 400, "long"),
        ({"api_key": None}, 403, "credential"),
        ({"api_key": "qq_0123456789ab_" + "A" * 43}, 403, "API key"),
        ({"attribute[enterprise_code]": None}, 400, "attribute[enterprise_code]"),
        ({"attribute[enterprise_code]": "91433126MA4L00010X"}, 400, "attribute[enterprise_code]"),
        ({"attribute[town]": None}, 400, "attribute[town]"),
        ({"attribute[town]": "atlantis"}, 400, "attribute[town]"),
        ({"attribute[title]": "x" * 201}, 400, "attribute[title]"),
        ({"phone": "12345"}, 400, "phone"),
        ({"description": "   "}, 400, "description"),
        ({"lat": "north"}, 400, "lat"),
        ({"email": "not-an-address"}, 400, "email"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"service_code": "nope"}, 404, "service_code"),
        ({"service_code": None}, 400, "service_code"),
    ]
    for fmt in ("json", "xml"):
        for change, status, mentions in cases:
            form = {k: v for k, v in {**good, **change}.items() if v is not None}
            errors = open311_error(api.post(f"/open311/v2/requests.{fmt}", data=form), status, fmt)
            assert any(mentions in e for e in errors), (change, errors)
    open311_error(api.get("/open311/v2/requests.json"), 403)
    open311_error(api.get("/open311/v2/requests.xml", params={"status": "lost", "api_key": key}), 400, "xml")
    assert api.get("/api/v1/appeals", who=who["taskforce"]).json()["items"] == []
    # every caller on the request routes
    for name, headers in who.items():
        listed = api.get("/open311/v2/requests.json", headers=headers)
        filed = api.post("/open311/v2/requests.json", headers=headers, data={
            k: v for k, v in good.items() if k != "api_key"})
        if name == "anonymous":
            open311_error(listed, 403)
            open311_error(filed, 403)
        else:
            assert listed.status_code == 200 and filed.status_code == 200, (name, filed.text)
    assert len(api.get("/api/v1/appeals", who=who["taskforce"]).json()["items"]) == len(who) - 1
