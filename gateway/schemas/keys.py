"""Contract v1 for API keys (GW-3)."""
from marshmallow import fields, validate

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


class ApiKeyInfo(Body):
    id = fields.String()
    kind = fields.String()
    code = fields.String()
    label = fields.String()
    created_by = fields.String()
    created_at = fields.AwareDateTime()
    revoked_at = fields.AwareDateTime(allow_none=True)


class ApiKeyCreated(ApiKeyInfo):
    key = fields.String(metadata={"description": "the key itself: shown this once, never again"})


class ApiKeyList(Body):
    items = fields.List(fields.Nested(ApiKeyInfo))
