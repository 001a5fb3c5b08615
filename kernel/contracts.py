"""Event contracts: the only thing services share about each other's events.

Every event travels in an ``Envelope`` (event_id, event_type, schema_version,
occurred_at, source, data); ``data`` is checked against the schema registered
for its type on the way out (outbox) and on the way in (consumers).
"""
from marshmallow import EXCLUDE, Schema, fields, validate

SCHEMA_VERSION = 1


class Envelope(Schema):
    class Meta:
        unknown = EXCLUDE

    event_id = fields.UUID(required=True)
    event_type = fields.String(required=True)
    schema_version = fields.Integer(required=True, validate=validate.Range(min=1))
    occurred_at = fields.AwareDateTime(required=True, default_timezone=None)
    source = fields.String(required=True)
    data = fields.Dict(required=True)


class _Event(Schema):
    class Meta:
        unknown = EXCLUDE


class AppealRef(_Event):
    """What every appeal event carries, so consumers need not call back."""
    appeal_id = fields.Integer(required=True)
    status = fields.String(required=True)
    tier = fields.String(required=True)
    channel = fields.String(required=True)
    category = fields.String(required=True)
    enterprise_code = fields.String(required=True)
    lead_department = fields.String(allow_none=True)
    co_departments = fields.List(fields.String(), load_default=list)
    due_at = fields.AwareDateTime(allow_none=True)


class AppealCreated(AppealRef):
    received_at = fields.AwareDateTime(required=True)


class AppealAssigned(AppealRef):
    previous_department = fields.String(allow_none=True)


class AppealStatusChanged(AppealRef):
    action = fields.String(required=True)
    from_status = fields.String(required=True)
    to_status = fields.String(required=True)
    actor = fields.String(allow_none=True)


class AppealReplied(AppealRef):
    replied_at = fields.AwareDateTime(required=True)
    on_time = fields.Boolean(required=True)


class AppealRated(AppealRef):
    rating = fields.Integer(required=True, validate=validate.Range(1, 5))
    dissatisfied = fields.Boolean(required=True)


class AppealDueSoon(AppealRef):
    pass


class AppealEscalated(AppealRef):
    level = fields.Integer(required=True)
    step = fields.String(required=True)  # supervision | talk | notice | accountability
    overdue_working_days = fields.Integer(required=True)


class AppealClosed(AppealRef):
    closed_at = fields.AwareDateTime(required=True)
    reason = fields.String(required=True)  # feedback | timeout


class AppealReviewOpened(AppealRef):
    rating = fields.Integer(required=True)


class RectificationChanged(_Event):
    item_id = fields.Integer(required=True)
    status = fields.String(required=True)
    lead_department = fields.String(required=True)
    deadline = fields.Date(required=True)


class EnterpriseUpserted(_Event):
    """The enterprise directory (inspections service) tells others of enterprises."""
    credit_code = fields.String(required=True)
    name = fields.String(required=True)
    town = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)
    above_scale = fields.Boolean(load_default=False)
    key_investment = fields.Boolean(load_default=False)
    key_project = fields.Boolean(load_default=False)


EVENTS = {
    "appeal.created": AppealCreated,
    "appeal.assigned": AppealAssigned,
    "appeal.status_changed": AppealStatusChanged,
    "appeal.replied": AppealReplied,
    "appeal.rated": AppealRated,
    "appeal.review_opened": AppealReviewOpened,
    "appeal.due_soon": AppealDueSoon,
    "appeal.escalated": AppealEscalated,
    "appeal.closed": AppealClosed,
    "rectification.created": RectificationChanged,
    "rectification.closed": RectificationChanged,
    "enterprise.upserted": EnterpriseUpserted,
}


def register(event_type, schema_cls):
    """Services add their own event types here at import time (one registry)."""
    if event_type in EVENTS and EVENTS[event_type] is not schema_cls:
        raise ValueError(f"event type {event_type} already registered")
    EVENTS[event_type] = schema_cls


def schema_for(event_type):
    try:
        return EVENTS[event_type]()
    except KeyError:
        raise KeyError(f"no contract for event type {event_type!r}") from None
