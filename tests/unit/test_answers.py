"""kernel.fields.Answer: answers declared as typed attributes become the
marshmallow fields the services dump with and the gateway documents."""
import datetime as dt

import pytest
from marshmallow import fields

from kernel.fields import Answer, HistoryEntry, doc, field_of, summary_and_page


class Item(Answer):
    code: str


class Thing(Answer):
    id: int
    status: str = doc("open | closed", example="open")
    score: float | None
    flagged: bool
    due: dt.date
    decided_at: dt.datetime | None
    extra: dict
    item: Item | None
    items: list[Item]
    tags: list[str]
    code: str = fields.String(attribute="internal_code")
    history: list[HistoryEntry]


def test_types_become_fields_in_the_order_written():
    f = Thing().fields
    assert list(f) == ["id", "status", "score", "flagged", "due", "decided_at", "extra", "item",
                       "items", "tags", "code", "history"]
    kinds = {k: type(v) for k, v in f.items()}
    assert kinds["id"] is fields.Integer and kinds["score"] is fields.Float
    assert kinds["flagged"] is fields.Boolean and kinds["due"] is fields.Date
    assert kinds["decided_at"] is fields.AwareDateTime and kinds["extra"] is fields.Dict
    assert kinds["item"] is fields.Nested and f["item"].nested is Item
    assert type(f["items"].inner) is fields.Nested and type(f["tags"].inner) is fields.String
    assert f["status"].metadata == {"description": "open | closed", "example": "open"}


def test_null_only_where_the_type_says_so():
    f = Thing().fields
    assert [k for k, v in f.items() if v.allow_none] == ["score", "decided_at", "item"]


def test_a_field_given_as_such_is_kept():
    # (every dump names ``items``: a dict's own .items would stand in for it)
    assert Thing().dump({"internal_code": "X", "items": []}) == {"code": "X", "items": []}


def test_dump():
    at = dt.datetime(2026, 12, 1, 8, tzinfo=dt.timezone.utc)
    out = Thing().dump({"id": 1, "decided_at": at, "item": None, "items": [{"code": "a"}],
                        "history": [{"at": at, "actor": "u", "action": "accept",
                                     "from_status": None, "to_status": "accepted", "note": ""}]})
    assert out["decided_at"] == "2026-12-01T08:00:00+00:00"
    assert out["item"] is None and out["items"] == [{"code": "a"}]
    assert out["history"][0]["from_status"] is None


def test_summary_and_page():
    summary, page = summary_and_page(Thing, "Thing")
    assert (summary.__name__, page.__name__) == ("ThingSummary", "ThingPage")
    assert summary.__module__ == page.__module__ == __name__
    assert "history" not in summary().fields and "history" in Thing().fields
    assert page().fields["items"].inner.nested is summary
    assert page().fields["next_cursor"].allow_none
    assert page().dump({"items": [{"id": 1, "items": [], "history": []}],
                        "next_cursor": None}) == {"items": [{"id": 1, "items": []}],
                                                  "next_cursor": None}


@pytest.mark.parametrize("hint", ["int", set, list[set]])
def test_a_type_without_a_field_is_refused_at_once(hint):
    with pytest.raises(TypeError):
        field_of(hint)
