"""The notify service's published contract: RPC payloads and answers (the
gateway validates with these; nothing here imports the service's models)."""
import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kernel.fields import Answer, doc
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
    url = NoNul(required=True, validate=validate.Length(max=500), metadata=doc(
        "where events are POSTed, signed per Standard Webhooks; a public address (https in "
        "production)"))
    event_types = fields.List(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
                              required=True, validate=validate.Length(min=1, max=len(WEBHOOK_EVENTS)),
                              metadata=doc("the event types to receive (any of CONSUMED)",
                                           example=["appeal.assigned", "appeal.escalated"]))


class Webhook(Answer):
    id: int
    department: str = doc(
        "the subscribing department; only events about its own objects reach it (the task force's "
        "get all)")
    url: str = doc("where events are POSTed")
    event_types: list[str] = doc("the event types it receives")
    created_at: dt.datetime = doc("when it was subscribed (ISO 8601)")
    rotated_at: dt.datetime | None = doc("when its secret was last rotated; null if never")


class WebhookWithSecret(Webhook):
    """Answered on creation and rotation only: the secret is shown once."""
    secret: str = doc("whsec_…: verify with any Standard Webhooks library")


# -- the inbox --------------------------------------------------------------------------

class InboxQuery(StrictInput):
    unread = fields.Boolean(load_default=None, metadata=doc(
        "true: only unread messages; false: only read ones; absent: all", example=True))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200), metadata=doc(
        "at most this many, 1–200", example=50))
    before_id = fields.Integer(load_default=None, validate=validate.Range(min=1), metadata=doc(
        "only messages with a smaller number: the last id seen, for the next page"))


class InboxItem(Answer):
    id: int
    event_type: str = doc("the event the message is about (e.g. appeal.replied)")
    title: str = doc("the message's title (Chinese)")
    body: str = doc("the message's text (Chinese)")
    read: bool = doc("true once marked read")
    created_at: dt.datetime = doc("when it arrived (ISO 8601)")


class InboxPage(Answer):
    items: list[InboxItem] = doc("the messages, newest first")
    unread: int = doc("how many of the caller's messages are unread, in all")


class MarkRead(StrictInput):
    read = fields.Boolean(required=True, metadata=doc(
        "true: mark read; false: mark unread again", example=True))


# -- deliveries (the task force) ----------------------------------------------------------

class DeliveryQuery(StrictInput):
    status = fields.String(load_default=None, validate=validate.OneOf(domain.STATUSES),
                           metadata=doc("only deliveries in this status", example="dead"))
    channel = fields.String(load_default=None, validate=validate.OneOf(domain.CHANNELS),
                            metadata=doc("only deliveries on this channel: sms, wechat, email, "
                                         "inbox or webhook", example="sms"))
    event_type = fields.String(load_default=None, validate=validate.Length(max=64), metadata=doc(
        "only deliveries of this event type", example="appeal.escalated"))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500), metadata=doc(
        "at most this many, 1–500", example=50))
    before_id = fields.Integer(load_default=None, validate=validate.Range(min=1), metadata=doc(
        "only deliveries with a smaller number: the last id seen, for the next page"))


class Delivery(Answer):
    id: int
    event_id: str = doc("the id of the event that caused it")
    event_type: str = doc("the event's type (e.g. appeal.escalated)")
    channel: str = doc("sms, wechat, email, inbox or webhook")
    recipient: str = doc(
        "who is told, kind:key:role: official:<department>:head | deadline_contact | "
        "taskforce_head, or enterprise:<credit code>:contact")
    address: str = doc("masked: 138****0001, z***@example.com")
    status: str = doc(" | ".join(domain.STATUSES))
    attempts: int = doc("how many sends were tried")
    next_attempt_at: dt.datetime = doc(
        "when it is (re)tried next (back-off, morning for SMS at night)")
    last_error: str | None = doc("the last failure, in words; null if none")
    created_at: dt.datetime = doc("when it was planned (ISO 8601)")
    sent_at: dt.datetime | None = doc("when it was sent; null until then")


class DeliveryPage(Schema):
    items = fields.List(fields.Nested(Delivery), metadata=doc("the deliveries, newest first"))
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata=doc(
        "how many deliveries there are in each status, in all"))


# -- pushes to enterprises (NOT-2) ---------------------------------------------------------

class PushTags(StrictInput):
    industry = fields.List(fields.String(validate=CODE), load_default=list, metadata=doc(
        "enterprises of these industry codes", example=["manufacturing"]))
    size = fields.List(fields.String(validate=validate.OneOf(domain.SIZES)), load_default=list,
                       metadata=doc("enterprises of these sizes: above_scale (规上) or small",
                                    example=["above_scale"]))
    town = fields.List(fields.String(validate=CODE), load_default=list, metadata=doc(
        "enterprises in these town codes", example=["chengguan"]))


class PushCreate(StrictInput):
    kind = fields.String(required=True, validate=validate.OneOf(
        [k for k in domain.PUSH_KINDS if k != "licence_expiry"]), metadata=doc(
        "policy (惠企政策), tax_refund (退税提醒) or dishonesty (失信提醒)", example="policy"))
    title = NoNul(required=True, validate=validate.Length(1, 100), metadata=doc(
        "the push's title (Chinese)", example="新一轮技改补贴开始申报"))
    body = NoNul(required=True, validate=validate.Length(1, 500), metadata=doc(
        "the push's text (Chinese), 1–500 characters",
        example="符合条件的规上工业企业可于12月31日前申报技改补贴，详见县政府网站。"))
    tags = fields.Nested(PushTags, load_default=dict, metadata=doc(
        "enterprises whose industry, size and town are among those listed (an empty list: any); "
        "tags or credit codes are needed"))
    credit_codes = fields.List(fields.String(validate=validate.Length(equal=18)),
                               load_default=list, validate=validate.Length(max=10000),
                               metadata=doc("only these enterprises, by credit code "
                                            "(统一社会信用代码), and only those matching the tags",
                                            example=[]))

    @validates_schema
    def _targeted(self, data, **kwargs):
        tags = data.get("tags") or {}
        if not data.get("credit_codes") and not any(tags.get(k) for k in ("industry", "size", "town")):
            raise ValidationError("name tags or credit codes: a push to everyone is not a push",
                                  "tags")


class PushOut(Answer):
    id: int
    kind: str = doc("policy, tax_refund or dishonesty")
    matched: int = doc("enterprises matched by the tags or codes")
    queued: int = doc("deliveries planned for them (SMS and inbox)")


# -- imports ------------------------------------------------------------------------------

class CsvImport(StrictInput):
    csv = NoNul(required=True, validate=validate.Length(1, TEXT_LIMIT), metadata=doc(
        "the CSV text with its header line: licences credit_code,licence_no,name,expires_on; "
        "contacts credit_code,phone,email,wechat_openid"))


class RowProblem(Schema):
    line = fields.Integer(metadata=doc("the CSV line number (1 is the header)"))
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), metadata=doc(
        "what is wrong with the line, per column"))


class ImportResult(Answer):
    imported: int = doc("rows imported (0 when any row is bad: nothing imported then)")
    errors: list[RowProblem] = doc("the bad rows, by line")
