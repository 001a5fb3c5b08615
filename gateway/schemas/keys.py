"""Contract v1 for API keys (GW-3)."""
import datetime as dt

from marshmallow import validate

from kernel.fields import Answer

from ..keys import KINDS
from . import Body, Code, Text


class ApiKeyCreate(Body):
    kind = Text(required=True, validate=validate.OneOf(KINDS),
                metadata={"description": "what the key is bound to: a department or a channel",
                          "example": "channel"})
    code = Code(required=True, metadata={
        "description": "the department or channel code (see /api/v1/reference)",
        "example": "hotline_12345"})
    label = Text(required=True, not_blank=True, validate=validate.Length(1, 200),
                 metadata={"description": "whose system this is", "example": "12345 热线平台对接"})


class ApiKeyInfo(Answer):
    id: str
    kind: str
    code: str
    label: str
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyInfo):
    key: str = {"description": "the key itself: shown this once, never again"}


class ApiKeyList(Answer):
    items: list[ApiKeyInfo]
