"""The public contract (v1): one marshmallow schema per request and response.

A service's requests and responses are its published contract,
``services/<name>/schemas.py``: the gateway imports them to validate what a
client sends (a refusal names every offending field, and nothing reaches a
service) and to generate the OpenAPI document (``gateway/openapi.py``), and
keeps no copy. Here: the gateway's own shapes (Open311, API keys, problems,
health) and the helpers every route uses. The field types (``kernel.fields``)
refuse what the databases behind would choke on.
"""
from marshmallow import Schema, fields

from kernel.schemas import load as kernel_load
from kernel.schemas import shared

# The field types live in the kernel: the services' published contracts use them too.
from kernel.fields import (CODE, MAX_ID, Body, Code, StrictInteger, Text,  # noqa: F401
                           Timestamp)


def load(schema_cls, payload, **context):
    """Validate ``payload`` (a dict) against ``schema_cls``; BadInput names every
    field, nested ones dotted (``findings.0.severity``) — the kernel's one way."""
    return kernel_load(schema_cls, payload, whole="_body", **context)


def project(schema, data):
    """Keep only the fields the contract declares: a service may return more,
    clients see exactly what v1 promises."""
    if isinstance(schema, type):
        schema = shared(schema)
    if data is None:
        return None
    out = {}
    for name, field in schema.fields.items():
        if name not in data:
            continue
        value = data[name]
        if isinstance(field, fields.Nested):
            nested = field.schema
            value = [project(nested, v) for v in value] if field.many else project(nested, value)
        elif isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
            value = [project(field.inner.schema, v) for v in (value or [])]
        out[name] = value
    return out


# -- shapes shared by every route ---------------------------------------------------

class Problem(Schema):
    """An error (RFC 9457 problem details)."""
    type = fields.String(metadata={"description": "what kind of problem; explained on /docs",
                                   "example": "/docs#problem-invalid-input"})
    title = fields.String(metadata={"example": "Invalid input"})
    status = fields.Integer(metadata={"example": 422})
    detail = fields.String(metadata={"example": "Invalid input: contact_phone"})
    instance = fields.String(metadata={"description": "urn:request:<X-Request-ID>"})
    errors = fields.Dict(keys=fields.String(), values=fields.Raw(), metadata={
        "description": "bad input only: field → messages",
        "example": {"contact_phone": ["not a valid phone number"]}})
    conflict = fields.Dict(metadata={
        "description": "409 only: the state that refused the action",
        "example": {"status": "assigned", "action": "reply", "allowed_from": ["accepted"]}})


class Health(Schema):
    status = fields.String(metadata={"example": "ok"})
    service = fields.String(metadata={"example": "gateway"})


class Readiness(Schema):
    status = fields.String(metadata={"description": "ready | not ready"})
    broker = fields.String(metadata={"description": "ok | unreachable"})
    database = fields.String(metadata={"description": "ok | unreachable"})
    services = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "service → ok | timeout | unavailable | error | skipped",
        "example": {"appeals": "ok"}})
