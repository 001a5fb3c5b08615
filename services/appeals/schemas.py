"""The published contract of the appeals service (诉求): every RPC argument and
return value, which are also what HTTP clients send and get back — the gateway
imports this module to validate request bodies and to build the OpenAPI
document, and keeps no copy. It imports only the kernel and the domain's
vocabulary."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kernel.fields import MAX_ID, MONTH, Body, Code, HistoryEntry, StrictInteger, Text, Timestamp
from kernel.fields import doc as _doc
from kernel.schemas import StrictInput, load  # noqa: F401 (the service calls schemas.load)
from kernel.validators import CreditCode, Phone

from . import domain

# The vocabulary of the contract.
STATUSES = domain.STATUSES
TIERS = domain.TIERS
_MISSING = "Missing data for required field."
_text = validate.Length(min=1)
_In = StrictInput  # every RPC argument refuses unknown fields


# -- in -------------------------------------------------------------------------

class Attachment(Body):
    name = Text(required=True, validate=validate.Length(1, 200), metadata=_doc("file name"))
    url = fields.Url(required=True, schemes={"http", "https"},
                     validate=validate.Length(max=2000), metadata=_doc("where the file is"))


class AppealCreate(Body):
    """APP-1: one shape for every channel."""
    channel = Code(validate=validate.OneOf(list(domain.CHANNELS), error="unknown channel; one of {choices}"),
                   metadata=_doc(
        "intake channel code (see /api/v1/reference); taken from the key for a channel-bound "
        "API key", example="mini_program"))
    enterprise_code = CreditCode(metadata=_doc(
        "the enterprise's unified social credit code (统一社会信用代码); taken from the token "
        "for an enterprise", example="91433126MA4L00010B"))
    category = Code(required=True, metadata=_doc("category code", example="permit"))
    town = Code(required=True, metadata=_doc("town code", example="hongshi"))
    title = Text(required=True, not_blank=True, validate=validate.Length(1, 200),
                 metadata=_doc("one line", example="营业执照变更迟迟未办"))
    content = Text(required=True, not_blank=True, validate=validate.Length(1, 5000),
                   metadata=_doc("the appeal in full", example="提交材料已两周, 仍未办结"))
    contact_name = Text(required=True, not_blank=True, validate=validate.Length(1, 50),
                        metadata=_doc("contact person", example="张明"))
    contact_phone = Phone(required=True, metadata=_doc("mobile or landline", example="13912340001"))
    attachments = fields.List(fields.Nested(Attachment), load_default=list,
                              validate=validate.Length(max=20))
    received_at = Timestamp(load_default=None, metadata=_doc(
        "when the appeal was received on the integrator's side (integrators only: department "
        "and channel keys, task force); default now", example="2026-09-29T09:00:00+08:00"))

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _who_files(self, data, original, **kwargs):
        """An enterprise files for itself, a channel key for its channel; the
        others must say for whom and through which channel."""
        caller = self.context["caller"]
        given = original if isinstance(original, dict) else {}
        errors = {}
        if caller.role == "enterprise":
            if data.get("enterprise_code", caller.org) != caller.org:
                errors["enterprise_code"] = ["an enterprise files for itself: leave it out"]
            if given.get("received_at") is not None:
                errors["received_at"] = ["only integrators may set it"]
        elif "enterprise_code" not in given:
            errors["enterprise_code"] = [_MISSING]
        if caller.role == "channel":
            if data.get("channel", caller.org) != caller.org:
                errors["channel"] = ["this API key files through its own channel: leave it out"]
        elif "channel" not in given:
            errors["channel"] = [_MISSING]
        if errors:
            raise ValidationError(errors)


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


class AppealIn(AppealCreate):
    """Filing over RPC: the gateway adds the Idempotency-Key header's value."""
    idempotency_key = fields.String(load_default=None, validate=validate.Length(1, 128))


class AppealQuery(Body):
    """Filters of the ledger (台账); pages are newest first."""
    status = Text(validate=validate.OneOf(STATUSES))
    department = Code(metadata=_doc("lead department code"))
    tier = Text(validate=validate.OneOf(TIERS))
    channel = Code()
    category = Code()
    enterprise_code = CreditCode()
    overdue = fields.Boolean(metadata=_doc("true: past the deadline and still being handled"))
    received_from = Timestamp(metadata=_doc("received at or after"))
    received_to = Timestamp(metadata=_doc("received before"))
    cursor = fields.Integer(validate=validate.Range(1, MAX_ID),
                            metadata=_doc("next_cursor of the previous page"))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class ExportQuery(AppealQuery):
    format = Text(required=True, validate=validate.OneOf(["csv", "xlsx"]))
    limit = fields.Integer(load_default=100_000, validate=validate.Range(1, 100_000))


class StatsQuery(Body):
    month = Text(required=True, validate=MONTH, metadata=_doc("", example="2026-03"))


# The actions of the closed loop (APP-6): one body each.
class AssignBody(Body):
    department = Code(required=True, metadata=_doc("lead department (牵头单位)"))
    co_departments = fields.List(Code(), validate=validate.Length(max=20),
                                 metadata=_doc("co-handling departments (责任单位)"))
    tier = Text(validate=validate.OneOf(TIERS), metadata=_doc("red, yellow or blue (红黄蓝)"))
    note = Text(validate=validate.Length(max=1000))


class NoteBody(Body):
    note = Text(validate=validate.Length(max=1000))


class TransferBody(Body):
    department = Code(required=True, metadata=_doc("the department it goes to (转办)"))
    reason = Text(required=True, not_blank=True, validate=validate.Length(1, 1000))


class ReasonBody(Body):
    reason = Text(required=True, not_blank=True, validate=validate.Length(1, 1000))


class ExtendBody(Body):
    days = StrictInteger(required=True, validate=validate.Range(1, 365),
                         metadata=_doc("working days; the county's maximum applies"))
    reason = Text(required=True, not_blank=True, validate=validate.Length(1, 1000))


class ContentBody(Body):
    content = Text(required=True, not_blank=True, validate=validate.Length(1, 5000))


class FeedbackBody(Body):
    rating = StrictInteger(required=True, validate=validate.Range(1, 5), metadata=_doc(
        "5 very satisfied … 1 very dissatisfied; 1–2 re-opens the appeal (差评必纠)"))
    comment = Text(validate=validate.Length(max=1000))


ACTION_BODIES = {
    "assign": AssignBody, "accept": NoteBody, "reply": ContentBody, "transfer": TransferBody,
    "return": ReasonBody, "extend": ExtendBody, "approve_extension": NoteBody,
    "reject_extension": NoteBody, "instruct": ContentBody, "feedback": FeedbackBody,
    "reopen": ReasonBody,
}

ACTION_SUMMARIES = {
    "assign": "Assign to a lead department (交办), optionally with a tier",
    "accept": "Accept the appeal (签收)",
    "reply": "Reply to the enterprise (答复)",
    "transfer": "Transfer to another department (转办)",
    "return": "Send a misrouted appeal back to the task force (退回)",
    "extend": "Extend the deadline (延期): a department asks, the task force grants at once",
    "approve_extension": "Approve a department's extension request",
    "reject_extension": "Reject a department's extension request",
    "instruct": "A leader's instruction (批示)",
    "feedback": "The enterprise rates the reply; closes it, or re-opens it when dissatisfied",
    "reopen": "Re-open a closed appeal",
}


# -- out --------------------------------------------------------------------------

class Appeal(Body):
    id = fields.Integer()
    channel = fields.String()
    enterprise_code = fields.String()
    enterprise_name = fields.String(allow_none=True)
    contact_name = fields.String()
    contact_phone = fields.String(metadata=_doc("E.164"))
    category = fields.String()
    town = fields.String()
    title = fields.String()
    content = fields.String()
    attachments = fields.List(fields.Nested(Attachment))
    tier = fields.String(metadata=_doc("red, yellow or blue"))
    status = fields.String(metadata=_doc(" | ".join(STATUSES)))
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
    under_review = fields.Boolean(metadata=_doc("a bad rating opened a review"))
    reopen_count = fields.Integer()
    extension_request = fields.Dict(allow_none=True,
                                    metadata=_doc("a department's request waiting for approval"))
    escalation_level = fields.Integer()
    escalation_step = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    history = fields.List(fields.Nested(HistoryEntry))


class AppealSummary(Appeal):
    class Meta:
        exclude = ("history",)


class AppealPage(Body):
    items = fields.List(fields.Nested(AppealSummary))
    next_cursor = fields.Integer(allow_none=True, metadata=_doc("pass as cursor; null: last page"))


class DepartmentMonth(Body):
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


class MonthlyStats(Body):
    month = fields.String()
    departments = fields.List(fields.Nested(DepartmentMonth))


class CodeName(Body):
    code = fields.String()
    name = fields.String()


class TierDays(Body):
    code = fields.String()
    working_days = fields.Integer()


class Reference(Body):
    county = fields.String()
    channels = fields.List(fields.Nested(CodeName))
    categories = fields.List(fields.Nested(CodeName))
    towns = fields.List(fields.Nested(CodeName))
    departments = fields.List(fields.Nested(CodeName))
    tiers = fields.List(fields.Nested(TierDays))
    statuses = fields.List(fields.String())
    actions = fields.List(fields.String())


# -- the service's own RPCs ----------------------------------------------------------------

ACTION_PARAMS = ACTION_BODIES  # the closed loop's actions and the parameters each takes
AppealOut = Appeal


class LedgerQuery(AppealQuery):
    """APP-8 filters; ``cursor`` is the last id of the previous page (keyset)."""
    department = Code(load_default=None)
    status = Text(load_default=None, validate=validate.OneOf(STATUSES))
    tier = Text(load_default=None, validate=validate.OneOf(TIERS))
    channel = Code(load_default=None, validate=validate.OneOf(list(domain.CHANNELS)))
    category = Code(load_default=None)
    enterprise_code = CreditCode(load_default=None)
    overdue = fields.Boolean(load_default=None)
    received_from = Timestamp(load_default=None)
    received_to = Timestamp(load_default=None)
    cursor = fields.Integer(load_default=None, validate=validate.Range(1, MAX_ID))


class LedgerExportQuery(LedgerQuery):
    format = Text(required=True, validate=validate.OneOf(["csv", "xlsx"]))
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
    tasks = fields.List(fields.Nested(Appeal(only=("id", "title", "status", "tier", "due_at", "overdue"))))
    responsibilities = fields.List(fields.Dict())
    deadlines = fields.List(fields.Nested(Appeal(only=("id", "title", "status", "tier", "due_at", "overdue"))))
