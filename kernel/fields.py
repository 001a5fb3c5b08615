"""Field types of every published contract (``services/<name>/schemas.py``),
used by the services to validate RPC arguments and by the gateway to validate
request bodies and to build the OpenAPI document — one definition for both.

They refuse what the databases behind would choke on (NUL characters, years
outside any plausible range, ids beyond 64 bits), so no input a client can
send turns into a 500 further down.
"""
from marshmallow import RAISE, Schema, ValidationError, fields, validate

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


class HistoryEntry(Schema):
    """One row of an aggregate's history (kernel.models.HistoryRow)."""
    at = fields.AwareDateTime()
    actor = fields.String()
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    note = fields.String()
