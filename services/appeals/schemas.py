"""Payloads of the appeals service: every RPC argument and return value."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kernel.schemas import StrictInput, load  # noqa: F401 (services call schemas.load)
from kernel.validators import CreditCode, Phone

from . import domain

_text = validate.Length(min=1)


_In = StrictInput  # every RPC argument refuses unknown fields


class Attachment(StrictInput):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    url = fields.Url(required=True, schemes={"http", "https"})


class AppealCreate(_In):
    """APP-1: one shape for every channel."""
    channel = fields.String(required=True, validate=validate.OneOf(
        list(domain.CHANNELS), error="unknown channel; one of {choices}"))
    enterprise_code = CreditCode(required=True)
    contact_name = fields.String(required=True, validate=validate.Length(1, 50))
    contact_phone = Phone(required=True)
    category = fields.String(required=True)
    town = fields.String(required=True)
    title = fields.String(required=True, validate=validate.Length(1, 200))
    content = fields.String(required=True, validate=validate.Length(1, 5000))
    attachments = fields.List(fields.Nested(Attachment), load_default=list,
                              validate=validate.Length(max=20))
    # Integrating channels (12345, other platforms) carry their own receipt time.
    received_at = fields.AwareDateTime(load_default=None)
    idempotency_key = fields.String(load_default=None, validate=validate.Length(1, 128))

    @validates_schema(skip_on_field_errors=False)
    def _reference(self, data, **kwargs):
        profile = self.context.get("profile")
        errors = {}
        if profile is not None:
            if "category" in data and data["category"] not in profile.categories:
                errors["category"] = ["unknown category"]
            if "town" in data and data["town"] not in profile.towns:
                errors["town"] = ["unknown town"]
        for key in ("title", "content", "contact_name"):
            if isinstance(data.get(key), str) and not data[key].strip():
                errors[key] = ["must not be blank"]
        if errors:
            raise ValidationError(errors)


class AssignParams(_In):
    department = fields.String(required=True, validate=_text)
    co_departments = fields.List(fields.String(), load_default=None)
    tier = fields.String(load_default=None, validate=validate.OneOf(domain.TIERS))
    note = fields.String(load_default="", validate=validate.Length(max=1000))


class NoteParams(_In):
    note = fields.String(load_default="", validate=validate.Length(max=1000))


class TransferParams(_In):
    department = fields.String(required=True, validate=_text)
    reason = fields.String(required=True, validate=validate.Length(1, 1000))


class ReasonParams(_In):
    reason = fields.String(required=True, validate=validate.Length(1, 1000))


class ExtendParams(_In):
    days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    reason = fields.String(required=True, validate=validate.Length(1, 1000))


class ContentParams(_In):
    content = fields.String(required=True, validate=validate.Length(1, 5000))


class FeedbackParams(_In):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(1, 5))
    comment = fields.String(load_default=None, validate=validate.Length(max=1000))


ACTION_PARAMS = {
    "assign": AssignParams, "accept": NoteParams, "transfer": TransferParams,
    "return": ReasonParams, "extend": ExtendParams, "approve_extension": NoteParams,
    "reject_extension": NoteParams, "instruct": ContentParams, "reply": ContentParams,
    "feedback": FeedbackParams, "reopen": ReasonParams,
}


class LedgerQuery(_In):
    """APP-8 filters; ``cursor`` is the last id of the previous page (keyset)."""
    department = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(domain.STATUSES))
    tier = fields.String(load_default=None, validate=validate.OneOf(domain.TIERS))
    channel = fields.String(load_default=None, validate=validate.OneOf(list(domain.CHANNELS)))
    category = fields.String(load_default=None)
    enterprise_code = fields.String(load_default=None)
    overdue = fields.Boolean(load_default=None)
    received_from = fields.AwareDateTime(load_default=None)
    received_to = fields.AwareDateTime(load_default=None)
    cursor = fields.Integer(load_default=None, validate=validate.Range(min=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class StatsQuery(_In):
    month = fields.String(required=True, validate=validate.Regexp(
        r"^\d{4}-(0[1-9]|1[0-2])$", error="must be YYYY-MM"))


class ExportQuery(LedgerQuery):
    format = fields.String(required=True, validate=validate.OneOf(["csv", "xlsx"]))
    limit = fields.Integer(load_default=100_000, validate=validate.Range(1, 100_000))


class RouteIn(_In):
    category = fields.String(required=True, validate=_text)
    town = fields.String(required=True, validate=_text)
    lead_department = fields.String(required=True, validate=_text)
    co_departments = fields.List(fields.String(), load_default=list)


class RectificationIn(_In):
    source = fields.String(required=True, validate=validate.Length(1, 200))
    problem = fields.String(required=True, validate=validate.Length(1, 5000))
    measure = fields.String(load_default=None, validate=validate.Length(max=5000))
    lead_department = fields.String(required=True, validate=_text)
    responsible_leader = fields.String(required=True, validate=validate.Length(1, 50))
    co_departments = fields.List(fields.String(), load_default=list)
    deadline = fields.Date(required=True)


class RectificationQuery(_In):
    department = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "done"]))


class TickOffIn(_In):
    note = fields.String(required=True, validate=validate.Length(1, 2000))


# -- out ------------------------------------------------------------------------

class HistoryOut(Schema):
    at = fields.AwareDateTime()
    actor = fields.String()
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    note = fields.String()


class AppealOut(Schema):
    id = fields.Integer()
    channel = fields.String()
    enterprise_code = fields.String()
    enterprise_name = fields.String(allow_none=True)
    contact_name = fields.String()
    contact_phone = fields.String()
    category = fields.String()
    town = fields.String()
    title = fields.String()
    content = fields.String()
    attachments = fields.List(fields.Dict())
    tier = fields.String()
    status = fields.String()
    lead_department = fields.String(allow_none=True)
    co_departments = fields.List(fields.String())
    received_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime(allow_none=True)
    overdue = fields.Boolean()
    replied_at = fields.AwareDateTime(allow_none=True)
    replied_on_time = fields.Boolean(allow_none=True)
    reply_content = fields.String(allow_none=True)
    rating = fields.Integer(allow_none=True)
    rating_comment = fields.String(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    under_review = fields.Boolean()
    reopen_count = fields.Integer()
    extension_request = fields.Dict(allow_none=True)
    escalation_level = fields.Integer()
    escalation_step = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    history = fields.List(fields.Nested(HistoryOut))


class AppealPage(Schema):
    items = fields.List(fields.Nested(AppealOut(exclude=("history",))))
    next_cursor = fields.Integer(allow_none=True)


class DepartmentMonth(Schema):
    department = fields.String()
    received = fields.Integer()
    closed = fields.Integer()
    replied = fields.Integer()
    replied_on_time = fields.Integer()
    on_time_rate = fields.Float(allow_none=True)
    overdue = fields.Integer()
    rated = fields.Integer()
    satisfied = fields.Integer()
    satisfaction_rate = fields.Float(allow_none=True)
    average_rating = fields.Float(allow_none=True)


class MonthlyStats(Schema):
    month = fields.String()
    departments = fields.List(fields.Nested(DepartmentMonth))


class CodeName(Schema):
    code = fields.String()
    name = fields.String()


class TierDays(Schema):
    code = fields.String()
    working_days = fields.Integer()


class Reference(Schema):
    """What a client needs to fill its forms."""
    county = fields.String()
    channels = fields.List(fields.Nested(CodeName))
    categories = fields.List(fields.Nested(CodeName))
    towns = fields.List(fields.Nested(CodeName))
    departments = fields.List(fields.Nested(CodeName))
    tiers = fields.List(fields.Nested(TierDays))
    statuses = fields.List(fields.String())
    actions = fields.List(fields.String())


class ExportOut(Schema):
    filename = fields.String()
    content_type = fields.String()
    rows = fields.Integer()
    content_base64 = fields.String()


class RouteOut(RouteIn):
    pass


class RectificationOut(Schema):
    id = fields.Integer()
    source = fields.String()
    problem = fields.String()
    measure = fields.String(allow_none=True)
    lead_department = fields.String()
    responsible_leader = fields.String()
    co_departments = fields.List(fields.String())
    deadline = fields.Date()
    status = fields.String()
    done_at = fields.AwareDateTime(allow_none=True)
    done_note = fields.String(allow_none=True)
    on_time = fields.Boolean(allow_none=True)
    overdue = fields.Boolean()


class ThreeLists(Schema):
    """APP-8 三张清单 for one department."""
    department = fields.String()
    tasks = fields.List(fields.Nested(AppealOut(only=("id", "title", "status", "tier", "due_at", "overdue"))))
    responsibilities = fields.List(fields.Dict())
    deadlines = fields.List(fields.Nested(AppealOut(only=("id", "title", "status", "tier", "due_at", "overdue"))))
