"""The notify service's published contract: RPC payloads and answers (the
gateway validates with these; nothing here imports the service's models)."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kernel.schemas import StrictInput, dump, load  # noqa: F401  (re-exported for service.py)

from . import domain

# The events notify consumes; a webhook subscription names some of them.
CONSUMED = {
    "appeals": ("appeal.created", "appeal.assigned", "appeal.status_changed", "appeal.replied",
                "appeal.due_soon", "appeal.escalated"),
    "inspections": ("inspection.approved", "inspection.rejected"),
    "scoring": ("rating.bad", "card.issued", "ranking.published", "followup.overdue"),
}
WEBHOOK_EVENTS = tuple(e for events in CONSUMED.values() for e in events)
CODE = validate.Regexp(r"^[A-Za-z0-9_.-]{1,32}$", error="must be a code")
TEXT_LIMIT = 2_000_000  # a CSV import: about 20,000 rows


class NoNul(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in value:
            raise ValidationError("must not contain NUL characters")
        return value


# -- webhooks (GW-3) ------------------------------------------------------------------

class WebhookCreate(StrictInput):
    url = NoNul(required=True, validate=validate.Length(max=500))
    event_types = fields.List(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
                              required=True, validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)))


class Webhook(Schema):
    id = fields.Integer()
    department = fields.String()
    url = fields.String()
    event_types = fields.List(fields.String())
    created_at = fields.AwareDateTime()
    rotated_at = fields.AwareDateTime(allow_none=True)


class WebhookWithSecret(Webhook):
    """Answered on creation and rotation only: the secret is shown once."""
    secret = fields.String(metadata={"description": "whsec_…: verify with any Standard Webhooks library"})


# -- the inbox --------------------------------------------------------------------------

class InboxQuery(StrictInput):
    unread = fields.Boolean(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    before_id = fields.Integer(load_default=None, validate=validate.Range(min=1))


class InboxItem(Schema):
    id = fields.Integer()
    event_type = fields.String()
    title = fields.String()
    body = fields.String()
    read = fields.Boolean()
    created_at = fields.AwareDateTime()


class InboxPage(Schema):
    items = fields.List(fields.Nested(InboxItem))
    unread = fields.Integer()


class MarkRead(StrictInput):
    read = fields.Boolean(required=True)


# -- deliveries (the task force) ----------------------------------------------------------

class DeliveryQuery(StrictInput):
    status = fields.String(load_default=None, validate=validate.OneOf(domain.STATUSES))
    channel = fields.String(load_default=None, validate=validate.OneOf(domain.CHANNELS))
    event_type = fields.String(load_default=None, validate=validate.Length(max=64))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    before_id = fields.Integer(load_default=None, validate=validate.Range(min=1))


class Delivery(Schema):
    id = fields.Integer()
    event_id = fields.String()
    event_type = fields.String()
    channel = fields.String()
    recipient = fields.String()
    address = fields.String(metadata={"description": "masked: 138****0001, z***@example.com"})
    status = fields.String(metadata={"description": " | ".join(domain.STATUSES)})
    attempts = fields.Integer()
    next_attempt_at = fields.AwareDateTime()
    last_error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime(allow_none=True)


class DeliveryPage(Schema):
    items = fields.List(fields.Nested(Delivery))
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())


# -- pushes to enterprises (NOT-2) ---------------------------------------------------------

class PushTags(StrictInput):
    industry = fields.List(fields.String(validate=CODE), load_default=list)
    size = fields.List(fields.String(validate=validate.OneOf(domain.SIZES)), load_default=list)
    town = fields.List(fields.String(validate=CODE), load_default=list)


class PushCreate(StrictInput):
    kind = fields.String(required=True, validate=validate.OneOf(
        [k for k in domain.PUSH_KINDS if k != "licence_expiry"]))
    title = NoNul(required=True, validate=validate.Length(1, 100))
    body = NoNul(required=True, validate=validate.Length(1, 500))
    tags = fields.Nested(PushTags, load_default=dict)
    credit_codes = fields.List(fields.String(validate=validate.Length(equal=18)),
                               load_default=list, validate=validate.Length(max=10000))

    @validates_schema
    def _targeted(self, data, **kwargs):
        tags = data.get("tags") or {}
        if not data.get("credit_codes") and not any(tags.get(k) for k in ("industry", "size", "town")):
            raise ValidationError("name tags or credit codes: a push to everyone is not a push",
                                  "tags")


class PushOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    matched = fields.Integer()
    queued = fields.Integer()


# -- imports ------------------------------------------------------------------------------

class CsvImport(StrictInput):
    csv = NoNul(required=True, validate=validate.Length(1, TEXT_LIMIT))


class RowProblem(Schema):
    line = fields.Integer()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ImportResult(Schema):
    imported = fields.Integer()
    errors = fields.List(fields.Nested(RowProblem))
