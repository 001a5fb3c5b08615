"""Open311 GeoReport v2 (GW-3): existing 311 clients and city systems, unchanged.

A service (service_code) is one of our appeal categories; a service request
is an appeal like any other. GeoReport knows nothing of enterprises, so the
credit code travels as the service attribute ``attribute[enterprise_code]``
and the town as ``attribute[town]`` (both announced in every service
definition, so a conforming client asks for them); ``attribute[title]`` is
optional. Field names and status values (``open``/``closed``) are the
spec's; everything here is pure mapping, no I/O.
"""
import re
import xml.etree.ElementTree as ET

OPEN, CLOSED = "open", "closed"
# Our statuses on the spec's two: an appeal is open until it is closed (销号).
OPEN_STATUSES = ("received", "assigned", "accepted", "replied")
STATUS_NOTES = {"received": "已受理, 待交办", "assigned": "已交办", "accepted": "已签收, 办理中",
                "replied": "已答复, 待评价", "closed": "已办结"}
DEFAULT_CHANNEL = "referral"  # 互联网+督查: referrals from other platforms
TITLE_CHARS = 60

# Our field names → the Open311 parameter a client sent, for error messages.
PARAMETER_OF = {"category": "service_code", "town": "attribute[town]",
                "enterprise_code": "attribute[enterprise_code]", "title": "attribute[title]",
                "content": "description", "contact_name": "first_name",
                "contact_phone": "phone", "attachments": "media_url", "channel": "api_key",
                "received_at": "requested_datetime"}


def status_of(appeal_status):
    return CLOSED if appeal_status == "closed" else OPEN


def our_statuses(open311_statuses):
    """open/closed → the appeal statuses to ask for (None: all)."""
    if not open311_statuses or set(open311_statuses) == {OPEN, CLOSED}:
        return None
    return list(OPEN_STATUSES) if OPEN in open311_statuses else ["closed"]


# -- services -----------------------------------------------------------------------

def services(reference):
    return [{"service_code": c["code"], "service_name": c["name"], "description": c["name"],
             "metadata": True, "type": "realtime", "keywords": "", "group": "诉求"}
            for c in reference["categories"]]


def definition(reference, service_code):
    """The attributes a request of this service carries beyond the standard fields."""
    towns = [{"key": t["code"], "name": t["name"]} for t in reference["towns"]]
    return {"service_code": service_code, "attributes": [
        {"variable": True, "code": "enterprise_code", "datatype": "string", "required": True,
         "datatype_description": "18 位统一社会信用代码 (unified social credit code)",
         "order": 1, "description": "企业统一社会信用代码 (not needed with an enterprise's token)",
         "values": []},
        {"variable": True, "code": "town", "datatype": "singlevaluelist", "required": True,
         "datatype_description": "", "order": 2, "description": "所在乡镇 (town)",
         "values": towns},
        {"variable": True, "code": "title", "datatype": "string", "required": False,
         "datatype_description": f"at most 200 characters; default: the first {TITLE_CHARS} "
                                 "characters of the description",
         "order": 3, "description": "诉求标题 (title)", "values": []},
    ]}


# -- requests ---------------------------------------------------------------------------

def to_appeal(form, caller):
    """A validated Open311 POST (``schemas.open311.RequestIn``) as an appeal to file."""
    description = form["description"].strip()
    title = form.get("title") or description.splitlines()[0][:TITLE_CHARS]
    extra = [f"{label}: {form[key]}" for key, label in (
        ("address_string", "地址"), ("address_id", "地址编号"), ("email", "电子邮箱"))
        if form.get(key)]
    if form.get("lat") is not None and form.get("long") is not None:
        extra.append(f"坐标: {form['lat']}, {form['long']}")
    appeal = {
        "category": form["service_code"],
        "town": form.get("town"),
        "title": title,
        "content": description + ("\n\n" + "\n".join(extra) if extra else ""),
        "contact_name": contact_name(form.get("first_name"), form.get("last_name")),
        "contact_phone": form.get("phone"),
    }
    if form.get("media_url"):
        appeal["attachments"] = [{"name": "media_url", "url": form["media_url"]}]
    if caller.role != "channel":  # a channel key files through its own channel
        appeal["channel"] = DEFAULT_CHANNEL
    if caller.role != "enterprise":  # an enterprise files for itself
        appeal["enterprise_code"] = form.get("enterprise_code")
    return {k: v for k, v in appeal.items() if v is not None}


def contact_name(first, last):
    """姓 then 名 for Chinese names; 'First Last' for names in Latin letters."""
    first, last = (first or "").strip(), (last or "").strip()
    if first.isascii() and last.isascii():
        return " ".join(p for p in (first, last) if p)
    return last + first


def to_request(appeal, reference):
    names = {k: {c["code"]: c["name"] for c in reference[k]}
             for k in ("categories", "departments", "towns")}
    lead = appeal.get("lead_department")
    media = [a["url"] for a in appeal.get("attachments") or []]
    return {
        "service_request_id": str(appeal["id"]),
        "status": status_of(appeal["status"]),
        "status_notes": appeal.get("reply_content") or STATUS_NOTES.get(appeal["status"], ""),
        "service_name": names["categories"].get(appeal["category"], appeal["category"]),
        "service_code": appeal["category"],
        "description": appeal["content"],
        "agency_responsible": names["departments"].get(lead, lead or ""),
        "service_notice": "",
        "requested_datetime": appeal["received_at"],
        "updated_datetime": appeal["updated_at"],
        "expected_datetime": appeal.get("due_at"),
        "address": names["towns"].get(appeal["town"], appeal["town"]),
        "address_id": "",
        "zipcode": "",
        "lat": None,
        "long": None,
        "media_url": media[0] if media else "",
    }


def created(appeal):
    return [{"service_request_id": str(appeal["id"]), "service_notice": "", "account_id": None}]


def errors(status, problems):
    """The spec's error list: ``[{"code": …, "description": …}]``."""
    return [{"code": status, "description": d} for d in problems]


# -- XML ------------------------------------------------------------------------------------

_ITEM = {"services": "service", "service_requests": "request", "attributes": "attribute",
         "values": "value", "errors": "error"}


# Characters XML 1.0 cannot hold at all (not even escaped): control
# characters but tab, LF and CR, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value) -> str:
    """``value`` as text an XML document can hold: what it cannot hold is
    dropped (rows stored before the boundary refused such text), the rest is
    escaped by the writer."""
    return _NOT_XML.sub("", str(value))


def to_xml(root, data):
    """``data`` (a list or a dict) under ``<root>``, as the spec's XML, UTF-8 with declaration."""
    element = ET.Element(root)
    _fill(element, root, data)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def _fill(element, name, value):
    if isinstance(value, list):
        for item in value:
            child = ET.SubElement(element, _ITEM.get(name, "item"))
            _fill(child, child.tag, item)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = ET.SubElement(element, key)
            _fill(child, key, item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = xml_text(value)
