"""Field types of every published contract (``services/<name>/schemas.py``),
used by the services to validate RPC arguments and by the gateway to validate
request bodies and to build the OpenAPI document — one definition for both.

They refuse what the databases behind would choke on (NUL characters, years
outside any plausible range, ids beyond 64 bits), so no input a client can
send turns into a 500 further down.
"""
import datetime as dt
import types
import typing

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from marshmallow.schema import SchemaMeta

MAX_ID = 2**63 - 1  # ids are 64-bit integers in every service's database
CODE = validate.Regexp(r"^[A-Za-z0-9_.-]{1,32}$",
                       error="must be a code of 1 to 32 letters, digits, '_', '.' or '-'")
MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="must be YYYY-MM")


def doc(description, **more):
    """OpenAPI metadata of a field: its description and an example."""
    return {"description": description, **more}


class Body(Schema):
    """A request body, query or RPC argument: unknown fields are refused by name."""

    class Meta:
        unknown = RAISE


class Text(fields.String):
    """A string without NUL characters (PostgreSQL refuses them in text)."""

    def __init__(self, *args, not_blank=False, **kwargs):
        self.not_blank = not_blank
        super().__init__(*args, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in value:
            raise ValidationError("must not contain NUL characters")
        if self.not_blank and not value.strip():
            raise ValidationError("must not be blank")
        return value


class Code(Text):
    """A reference code (channel, category, town, department, tier …)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("validate", CODE)
        super().__init__(*args, **kwargs)


class StrictInteger(fields.Integer):
    """An integer given as a JSON number; ``true`` is not 1 and ``"5"`` is not 5."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("strict", True)
        super().__init__(*args, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Timestamp(fields.AwareDateTime):
    """An ISO 8601 instant with its offset, between 2000 and 2100."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not 2000 <= value.year <= 2100:  # also keeps the UTC conversion in range
            raise ValidationError("must be between 2000 and 2100")
        return value


class Day(fields.Date):
    """A calendar day, YYYY-MM-DD, between 2000 and 2100."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not 2000 <= value.year <= 2100:
            raise ValidationError("must be between 2000 and 2100")
        return value


def unique(values):
    if len(set(values)) != len(values):
        raise ValidationError("lists the same code twice")


# -- answers: what an RPC or a route gives back ------------------------------------------

_FIELDS = {str: fields.String, int: fields.Integer, float: fields.Float, bool: fields.Boolean,
           dt.datetime: fields.AwareDateTime, dt.date: fields.Date, dict: fields.Dict}


def field_of(hint, **kwargs):
    """The marshmallow field of a type: str, int, float, bool, dt.datetime (with
    its offset), dt.date, dict, a schema (nested), ``list[...]``; ``X | None``
    allows null."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return field_of(inner, allow_none=True, **kwargs)
    if typing.get_origin(hint) is list:
        (inner,) = args
        return fields.List(field_of(inner), **kwargs)
    if isinstance(hint, type) and issubclass(hint, Schema):
        return fields.Nested(hint, **kwargs)
    if isinstance(hint, str):  # ``from __future__ import annotations`` turns types into text
        raise TypeError(f"{hint!r}: an answer's types must be types, not strings")
    if hint not in _FIELDS:
        raise TypeError(f"no field type for {hint!r}")
    return _FIELDS[hint](**kwargs)


class _AnswerMeta(SchemaMeta):
    def __new__(mcs, name, bases, attrs):
        # Fields in the order written: ``name: type``, ``name: type = doc(...)``
        # (its OpenAPI metadata) or ``name: type = fields.X(...)`` (anything more).
        declared = {}
        for key, hint in attrs.get("__annotations__", {}).items():
            value = attrs.pop(key, None)
            if isinstance(value, fields.Field):
                declared[key] = value
            else:
                declared[key] = field_of(hint, metadata=value or {})
        return super().__new__(mcs, name, bases, {**attrs, **declared})


class Answer(Schema, metaclass=_AnswerMeta):
    """An answer's shape — an RPC's return value, a response's body —
    declared as typed attributes, like a dataclass::

        class Visit(Answer):
            id: int
            status: str = doc("pending | approved | …")
            decided_at: dt.datetime | None
            items: list[ItemResult]

    One mapping from types to fields (``field_of``) for every service, so an
    instant is always written with its offset and null is allowed only where
    the type says so."""


class HistoryEntry(Answer):
    """One row of an aggregate's history (kernel.models.HistoryRow)."""
    at: dt.datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    note: str


# -- lists: keyset pages, newest first ------------------------------------------------------

def cursor(**more):
    """A list query's cursor: ``next_cursor`` of the previous page (an id)."""
    return fields.Integer(validate=validate.Range(1, MAX_ID),
                          metadata=doc("next_cursor of the previous page"), **more)


def summary_and_page(schema, name):
    """A list's answers for an aggregate ``schema``: ``<name>Summary``, the
    aggregate without its history, and ``<name>Page``, a page of those and the
    cursor of the next."""
    summary = type(schema)(f"{name}Summary", (schema,), {
        "__module__": schema.__module__, "Meta": type("Meta", (), {"exclude": ("history",)})})
    page = _AnswerMeta(f"{name}Page", (Answer,), {
        "__module__": schema.__module__,
        "__annotations__": {"items": list[summary], "next_cursor": int | None},
        "next_cursor": doc("pass as cursor; null: last page")})
    return summary, page
