"""Validation at every boundary: one way to refuse bad input, naming each field."""
import functools

from marshmallow import RAISE, Schema, ValidationError, fields

from kernel.errors import BadInput
# One home for doc(): kernel.fields (the contracts' field types); re-exported.
from kernel.fields import doc  # noqa: F401
from kernel.validators import storable_text


class StrictInput(Schema):
    """An RPC argument or request body: unknown fields are refused by name.
    Its text is checked by ``load`` before the fields see it."""

    class Meta:
        unknown = RAISE


def load(schema_cls, payload, whole="_schema", **context):
    """Validate ``payload`` (a dict) against ``schema_cls``; on refusal raise
    BadInput naming every offending field (nested ones dotted:
    ``findings.0.severity``). ``whole`` names errors about the payload itself.
    Every string in it must be storable text (``kernel.validators.text_problem``);
    CRLF line breaks arrive as LF."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise BadInput({whole: ["expected an object"]})
    # Once, for every service's and the gateway's input: text that cannot be
    # stored (invalid Unicode, control characters) is refused by field.
    payload, unstorable = storable_text(payload)
    if unstorable:
        raise BadInput(flatten_errors(unstorable, whole=whole))
    free = None
    if context:
        # A schema with per-call context: an instance borrowed from a free list,
        # so it is built once per concurrent caller, not once per call. The
        # context dict is changed in place: nested schemas built from it share it.
        free = _FREE.setdefault(schema_cls, [])
        schema = free.pop() if free else schema_cls(context={})
        schema.context.update(context)
    else:
        schema = shared(schema_cls)
    try:
        return schema.load(payload)
    except ValidationError as exc:
        raise BadInput(flatten_errors(exc.messages, whole=whole))
    finally:
        if free is not None:
            schema.context.clear()
            free.append(schema)


_FREE = {}  # schema class → instances not in use (see load)


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


@functools.lru_cache(maxsize=None)
def shared(schema_cls):
    """One instance per schema class: building a marshmallow schema deep-copies
    every field, which profiles showed to be a sixth of a request's CPU. An
    instance without per-call context is safe to reuse."""
    return schema_cls()


def dump(schema_cls, obj, many=False):
    """Serialise a return value or event payload through its schema."""
    return shared(schema_cls).dump(obj, many=many)

