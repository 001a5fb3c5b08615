"""Text that cannot be stored is refused at the boundary, once, in the kernel
(issue #10, item 3); and nothing stored can break the Open311 XML."""
import xml.etree.ElementTree as ET

import pytest
from marshmallow import fields

from gateway import open311
from kernel.errors import BadInput
from kernel.schemas import StrictInput, load
from kernel.validators import text_problem
from services.appeals import schemas as appeal_schemas


class Note(StrictInput):
    title = fields.String()
    tags = fields.List(fields.String())
    files = fields.List(fields.Dict())


UNSTORABLE = {"\ud800": "surrogate", "\udfff": "surrogate", "\x00": "U+0000",
              "\x01": "U+0001", "\x1b": "U+001B", "\x7f": "U+007F", "\x85": "U+0085",
              "\r": "U+000D"}


@pytest.mark.parametrize("bad", list(UNSTORABLE))
def test_item3_unstorable_text_is_refused_naming_the_field(bad):
    # rule: GW-1
    assert UNSTORABLE[bad] in text_problem(f"a{bad}b")
    for payload, field in (({"title": f"x{bad}y"}, "title"),
                           ({"tags": ["ok", bad]}, "tags.1"),
                           ({"files": [{"name": bad}]}, "files.0.name")):
        with pytest.raises(BadInput) as err:
            load(Note, payload)
        assert list(err.value.errors) == [field]
        assert all(ord(c) < 0xD800 for m in err.value.errors[field] for c in m)  # printable


def test_item3_tab_newline_and_any_language_are_text():
    # rule: GW-1
    for good in ("营业执照\t变更\n第二行", "Ünïcödé — 😀", ""):
        assert text_problem(good) is None
        assert load(Note, {"title": good}) == {"title": good}
    # a browser's CRLF line breaks become LF rather than being refused
    assert load(Note, {"title": "一\r\n二"}) == {"title": "一\n二"}


def test_item3_unstorable_field_names_are_named_safely():
    # rule: GW-1
    with pytest.raises(BadInput) as err:
        load(Note, {"ti\ud800tle": "x"})
    assert list(err.value.errors) == ["'ti\\ud800tle'"]


def test_item3_every_appeal_payload_refuses_it():
    # rule: GW-1
    with pytest.raises(BadInput) as err:
        load(appeal_schemas.AppealCreate, {"title": "\x1b[31m", "attachments": [
            {"name": "a\ud800.pdf", "url": "https://x.cn/a"}]})
    assert set(err.value.errors) == {"title", "attachments.0.name"}
    with pytest.raises(BadInput) as err:
        load(appeal_schemas.ContentBody, {"content": "答复\x01"})
    assert list(err.value.errors) == ["content"]


def test_item3_stored_text_never_breaks_the_open311_xml():
    # rule: GW-3
    body = open311.to_xml("service_requests", [{
        "service_request_id": "7", "description": "一\x01二\x1b[0m\ud800三\t四\n五\ufffe",
        "status_notes": None, "lat": None}])
    root = ET.fromstring(body)  # parses
    assert root.find("request").findtext("description") == "一二[0m三\t四\n五"


def test_item3_every_bad_field_name_and_every_list_item_is_seen():
    # rule: GW-1
    from kernel.validators import storable_text
    cleaned, errors = storable_text({"a\ud800": "x", "b\x01": "y", "tags": ["1\r\n2", "3"],
                                     "n": 5, "deep": [{"k": "\x1b"}]})
    assert errors == {"'a\\ud800'": ["not a field name"], "'b\\x01'": ["not a field name"],
                      "deep": {0: {"k": ["must not contain control characters (U+001B); "
                                         "tab and newline are allowed"]}}}
    assert cleaned["tags"] == ["1\n2", "3"] and cleaned["n"] == 5
    assert storable_text(["\ud800"])[1] == {0: [
        "is not valid Unicode text (a lone surrogate U+D800)"]}
    assert storable_text("ok\r\n") == ("ok\n", None)
    assert text_problem("\ue000\uffff\U0001F600") is None  # private use, noncharacters, emoji
