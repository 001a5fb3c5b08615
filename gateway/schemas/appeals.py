"""Contract v1 for appeals (诉求): what clients send and what they get back."""
from marshmallow import ValidationError, fields, validate, validates_schema

from kernel.validators import CreditCode, Phone

from . import MAX_ID, Body, Code, StrictInteger, Text, Timestamp

# The vocabulary of the contract (the issue fixes these; the services agree).
STATUSES = ("received", "assigned", "accepted", "replied", "closed")
TIERS = ("red", "yellow", "blue")
_MISSING = "Missing data for required field."


def _doc(description, **more):
    return {"description": description, **more}


# -- in -------------------------------------------------------------------------

class Attachment(Body):
    name = Text(required=True, validate=validate.Length(1, 200), metadata=_doc("file name"))
    url = fields.Url(required=True, schemes={"http", "https"},
                     validate=validate.Length(max=2000), metadata=_doc("where the file is"))


class AppealCreate(Body):
    """APP-1: one shape for every channel."""
    channel = Code(metadata=_doc(
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
    attachments = fields.List(fields.Nested(Attachment), validate=validate.Length(max=20))
    received_at = Timestamp(metadata=_doc(
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
            if "received_at" in given:
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
    month = Text(required=True, validate=validate.Regexp(
        r"^\d{4}-(0[1-9]|1[0-2])$", error="must be YYYY-MM"), metadata=_doc("", example="2026-03"))


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

class HistoryEntry(Body):
    at = fields.AwareDateTime()
    actor = fields.String()
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    note = fields.String()


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
