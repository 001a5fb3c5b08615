"""Validation at every boundary: one way to refuse bad input, naming each field."""
from marshmallow import RAISE, Schema, ValidationError

from kernel.errors import BadInput


class StrictInput(Schema):
    """An RPC argument or request body: unknown fields are refused by name."""

    class Meta:
        unknown = RAISE


def load(schema_cls, payload, whole="_schema", **context):
    """Validate ``payload`` (a dict) against ``schema_cls``; on refusal raise
    BadInput naming every offending field (nested ones dotted:
    ``findings.0.severity``). ``whole`` names errors about the payload itself."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise BadInput({whole: ["expected an object"]})
    schema = schema_cls()
    schema.context.update(context)
    try:
        return schema.load(payload)
    except ValidationError as exc:
        raise BadInput(flatten_errors(exc.messages, whole=whole))


def flatten_errors(messages, prefix="", whole="_schema"):
    if not isinstance(messages, dict):
        return {prefix or whole: messages}
    out = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten_errors(value, name, whole))
        else:
            out[name] = value
    return out
