"""Open311 GeoReport v2 conformance (GW-3): every answer, in JSON and in XML,
checked against JSON Schemas written from the specification's field lists
(tests/data/open311/). The XML answer is read into the same shape, guided by
the same schema, and must say exactly what the JSON answer says."""
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import ENTERPRISE_A
from tests.integration.test_gateway_kit import api, stack, who  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.db_independent]

SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "open311"
EMAIL, PHONE = "zhang.ming@example.cn", "13912340001"
# What a conforming client sends: every standard field of the specification.
FULL = {"jurisdiction_id": "demo", "service_code": "permit",
        "description": "  营业执照变更迟迟未办\n提交材料已两周, 仍未办结  ",
        "first_name": "明", "last_name": "张", "email": EMAIL, "phone": PHONE,
        "address_string": "红石林镇老街 8 号", "address_id": "433126-0008",
        "lat": "28.61", "long": "109.95", "device_id": "kiosk-7", "account_id": "u-1024",
        "media_url": "https://img.example.cn/p/1.jpg",
        "attribute[enterprise_code]": ENTERPRISE_A, "attribute[town]": "hongshi"}
# The least the specification asks for: no name, no contact, a location.
MINIMAL = {"service_code": "tax", "description": "发票申领", "lat": "28.6", "long": "109.9",
           "attribute[enterprise_code]": ENTERPRISE_A, "attribute[town]": "hongshi"}


def schema(name):
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


def _types(s):
    t = s.get("type")
    return set(t) if isinstance(t, list) else {t} if t else set()


def from_xml(element, s, root):
    """An XML element read into JSON values, the schema saying which is which."""
    s = s.get("$ref") and root["$defs"][s["$ref"].rsplit("/", 1)[1]] or s
    if "anyOf" in s:
        s = {"type": sorted({t for alt in s["anyOf"] for t in _types(
            root["$defs"][alt["$ref"].rsplit("/", 1)[1]] if "$ref" in alt else alt)})}
    types = _types(s)
    if "array" in types:
        return [from_xml(child, s["items"], root) for child in element]
    if "object" in types:
        props = s.get("properties", {})
        return {child.tag: from_xml(child, props.get(child.tag, {}), root) for child in element}
    text = element.text
    if text is None:
        return None if "null" in types else ""
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    if "integer" in types and text.lstrip("-").isdigit():
        return int(text)
    if "number" in types:
        try:
            return float(text)
        except ValueError:
            return text
    return text


def conforms(response, name, status=200, root_tag=None):
    """The answer's JSON (or XML read as JSON) after checking it against the schema."""
    assert response.status_code == status, response.text
    s = schema(name)
    if root_tag is None:
        assert response.headers["Content-Type"].startswith("application/json")
        data = response.json()
    else:
        assert response.headers["Content-Type"].startswith("text/xml")
        assert response.content.startswith(b"<?xml")
        tree = ET.fromstring(response.content)
        assert tree.tag == root_tag
        data = from_xml(tree, s, s)
    jsonschema.validate(data, s)
    return data


def both(api, method, path, name, root_tag, status=200, **kw):
    """The same call in JSON and in XML: each conforms, and they say the same."""
    as_json = conforms(api(method, f"{path}.json", **kw), name, status)
    as_xml = conforms(api(method, f"{path}.xml", **kw), name, status, root_tag)
    return as_json, as_xml


@pytest.fixture
def key(who):
    return who["channel_key"]["X-API-Key"]


def test_discovery_answers_conform_in_both_formats(api):
    # rule: GW-3
    services, services_xml = both(api, "GET", "/open311/v2/services", "services", "services")
    assert services == services_xml and {s["service_code"] for s in services} >= {"permit", "tax"}
    for code in ("permit", "tax"):
        definition, definition_xml = both(api, "GET", f"/open311/v2/services/{code}",
                                          "service_definition", "service_definition")
        assert definition == definition_xml and definition["service_code"] == code


def test_a_full_request_round_trips_with_its_fields_kept(api, key):
    # rule: GW-3
    made_json = conforms(api.post("/open311/v2/requests.json", data={**FULL, "api_key": key}),
                         "request_created")
    made_xml = conforms(api.post("/open311/v2/requests.xml", data={**FULL, "api_key": key}),
                        "request_created", root_tag="service_requests")
    assert made_json[0]["account_id"] == made_xml[0]["account_id"] == "u-1024"
    ids = [made_json[0]["service_request_id"], made_xml[0]["service_request_id"]]

    for rid in ids:
        one, one_xml = both(api, "GET", f"/open311/v2/requests/{rid}", "service_requests",
                            "service_requests", params={"api_key": key})
        assert one == one_xml and len(one) == 1
        request = one[0]
        assert request["description"] == FULL["description"]  # exactly as sent
        assert (request["lat"], request["long"], request["address"], request["address_id"],
                request["media_url"]) == (28.61, 109.95, "红石林镇老街 8 号", "433126-0008",
                                          FULL["media_url"])
        assert (request["status"], request["service_code"]) == ("open", "permit")
    listed, listed_xml = both(api, "GET", "/open311/v2/requests", "service_requests",
                              "service_requests", params={"api_key": key})
    assert listed == listed_xml and [r["service_request_id"] for r in listed] == ids[::-1]


def test_the_submitters_contact_is_never_in_an_answer(api, key, who):
    # rule: GW-3
    api.post("/open311/v2/requests.json", data={**FULL, "api_key": key})
    answers = [api.get(f"/open311/v2/requests.{fmt}", params={"api_key": key})
               for fmt in ("json", "xml")]
    rid = answers[0].json()[0]["service_request_id"]
    answers += [api.get(f"/open311/v2/requests/{rid}.{fmt}", params={"api_key": key})
                for fmt in ("json", "xml")]
    for answer in answers:
        assert answer.status_code == 200
        text = answer.content.decode("utf-8")
        for secret in (EMAIL, PHONE, "8613912340001", "张明", "kiosk-7"):
            assert secret not in text, (secret, answer.url)
    # yet the appeal keeps them, for the department that handles it
    appeal = api.get(f"/api/v1/appeals/{rid}", who=who["taskforce"]).json()
    assert (appeal["contact_name"], appeal["contact_phone"]) == ("张明", "+8613912340001")


def test_name_and_contact_are_optional_as_in_the_specification(api, key, who):
    # rule: GW-3
    made, made_xml = both(api, "POST", "/open311/v2/requests", "request_created",
                          "service_requests", data={**MINIMAL, "api_key": key})
    assert made[0]["account_id"] is None and made_xml[0]["account_id"] is None
    [request] = conforms(api.get(f"/open311/v2/requests/{made[0]['service_request_id']}.json",
                                 params={"api_key": key}), "service_requests")
    assert (request["description"], request["lat"], request["long"]) == ("发票申领", 28.6, 109.9)
    assert request["address"] == "红石林镇"  # no address sent: the town's name
    appeal = api.get(f"/api/v1/appeals/{made[0]['service_request_id']}", who=who["taskforce"]).json()
    assert (appeal["contact_name"], appeal["contact_phone"]) == ("", "")
    by_address_id = api.post("/open311/v2/requests.json", data={
        **{k: v for k, v in MINIMAL.items() if k not in ("lat", "long")},
        "address_id": "433126-0001", "api_key": key})
    conforms(by_address_id, "request_created")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_every_refusal_is_in_the_specification_error_format(api, key, fmt):
    # rule: GW-3
    root = "errors" if fmt == "xml" else None

    def refused(response, status, mentions):
        errors = conforms(response, "errors", status, root)
        assert all(e["code"] == status for e in errors)
        assert any(mentions in e["description"] for e in errors), errors

    post = lambda form: api.post(f"/open311/v2/requests.{fmt}", data=form)  # noqa: E731
    refused(post({**MINIMAL, "api_key": key, "lat": "north"}), 400, "lat")
    refused(post({**{k: v for k, v in MINIMAL.items() if k != "long"}, "api_key": key}), 400, "long")
    refused(post({**{k: v for k, v in MINIMAL.items() if k not in ("lat", "long")},
                  "api_key": key}), 400, "address_string")
    refused(post({**MINIMAL, "api_key": key, "email": "not-an-address"}), 400, "email")
    refused(post({**MINIMAL, "api_key": key, "phone": "12345"}), 400, "phone")
    refused(post({**MINIMAL, "api_key": key, "service_code": "nope"}), 404, "service_code")
    refused(post(MINIMAL), 403, "credential")
    refused(post({**MINIMAL, "api_key": "qq_0123456789ab_" + "A" * 43}), 403, "API key")
    refused(api.get(f"/open311/v2/requests.{fmt}", params={"api_key": key, "status": "lost"}),
            400, "status")
    refused(api.get(f"/open311/v2/requests/999999.{fmt}", params={"api_key": key}), 404, "not found")
    refused(api.get(f"/open311/v2/services/nope.{fmt}"), 404, "service_code")
    refused(api.get(f"/open311/v2/no-such-thing.{fmt}"), 404, "no such route")
    refused(api("DELETE", f"/open311/v2/services.{fmt}"), 405, "method")
