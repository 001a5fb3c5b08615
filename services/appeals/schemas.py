"""The published contract of the appeals service (诉求): every RPC argument and
return value, which are also what HTTP clients send and get back — the gateway
imports this module to validate request bodies and to build the OpenAPI
document, and keeps no copy. It imports only the kernel and the domain's
vocabulary."""
import datetime as dt
import typing

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kernel.fields import (MONTH, Answer, Body, Code, HistoryEntry, StrictInteger, Text,
                           Timestamp, cursor, doc, summary_and_page)
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
    name = Text(required=True, validate=validate.Length(1, 200), metadata=doc("file name"))
    url = fields.Url(required=True, schemes={"http", "https"},
                     validate=validate.Length(max=2000), metadata=doc("where the file is"))


class AppealCreate(Body):
    """APP-1: one shape for every channel."""
    channel = Code(validate=validate.OneOf(list(domain.CHANNELS), error="unknown channel; one of {choices}"),
                   metadata=doc(
        "intake channel code (see /api/v1/reference); taken from the key for a channel-bound "
        "API key", example="mini_program"))
    enterprise_code = CreditCode(metadata=doc(
        "the enterprise's unified social credit code (统一社会信用代码); taken from the token "
        "for an enterprise", example="91433126MA4L00010B"))
    category = Code(required=True, metadata=doc("category code", example="permit"))
    town = Code(required=True, metadata=doc("town code", example="hongshi"))
    title = Text(required=True, not_blank=True, validate=validate.Length(1, 200),
                 metadata=doc("one line", example="营业执照变更迟迟未办"))
    content = Text(required=True, not_blank=True, validate=validate.Length(1, 5000),
                   metadata=doc("the appeal in full", example="提交材料已两周, 仍未办结"))
    contact_name = Text(required=True, not_blank=True, validate=validate.Length(1, 50),
                        metadata=doc("contact person", example="张明"))
    contact_phone = Phone(required=True, metadata=doc("mobile or landline", example="13912340001"))
    attachments = fields.List(fields.Nested(Attachment), load_default=list,
                              validate=validate.Length(max=20))
    received_at = Timestamp(load_default=None, metadata=doc(
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
            if isinstance(data.get(key), str) and data[key] and not data[key].strip():
                errors[key] = ["must not be blank"]
        if errors:
            raise ValidationError(errors)


class AppealIn(AppealCreate):
    """Filing over RPC: the gateway adds the Idempotency-Key header's value.
    Contact and location are optional here: an Open311 client may file without a
    name or phone (GW-3); the gateway's REST contract (AppealCreate) asks for both."""
    idempotency_key = fields.String(load_default=None, validate=validate.Length(1, 128))
    contact_name = Text(load_default="", validate=validate.Length(1, 50),
                        metadata=doc("contact person", example="张明"))
    contact_phone = Phone(load_default="", metadata=doc("mobile or landline", example="13912340001"))
    # Where the submitter is and how it filed (Open311 GeoReport v2), kept as given.
    lat = fields.Float(load_default=None, allow_nan=False, validate=validate.Range(-90, 90))
    long = fields.Float(load_default=None, allow_nan=False, validate=validate.Range(-180, 180))
    address_string = Text(load_default=None, validate=validate.Length(1, 300))
    address_id = Text(load_default=None, validate=validate.Length(1, 100))
    contact_email = fields.Email(load_default=None, validate=validate.Length(max=200))
    device_id = Text(load_default=None, validate=validate.Length(1, 200))
    account_id = Text(load_default=None, validate=validate.Length(1, 200))


class AppealQuery(Body):
    """Filters of the ledger (台账); pages are newest first."""
    status = Text(validate=validate.OneOf(STATUSES))
    department = Code(metadata=doc("lead department code"))
    tier = Text(validate=validate.OneOf(TIERS))
    channel = Code()
    category = Code()
    enterprise_code = CreditCode()
    overdue = fields.Boolean(metadata=doc("true: past the deadline and still being handled"))
    received_from = Timestamp(metadata=doc("received at or after"))
    received_to = Timestamp(metadata=doc("received before"))
    cursor = cursor()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


# An export answered at once is built in memory inside one RPC reply: bounded.
# Anything larger is a job (POST /api/v1/appeals/exports), written page by page.
QUICK_EXPORT_ROWS = 5_000


class ExportQuery(AppealQuery):
    """An export job's filters: up to 100,000 rows, written to a file page by page."""
    format = Text(required=True, validate=validate.OneOf(["csv", "xlsx"]))
    limit = fields.Integer(load_default=100_000, validate=validate.Range(1, 100_000))


class QuickExportQuery(ExportQuery):
    """An export answered at once: at most QUICK_EXPORT_ROWS rows (larger: a job)."""
    limit = fields.Integer(load_default=QUICK_EXPORT_ROWS,
                           validate=validate.Range(1, QUICK_EXPORT_ROWS),
                           metadata=doc(f"at most this many rows ({QUICK_EXPORT_ROWS:,}; "
                                        "more: POST /api/v1/appeals/exports)"))


class StatsQuery(Body):
    month = Text(required=True, validate=MONTH, metadata=doc("", example="2026-03"))


# The actions of the closed loop (APP-6): one body each.
class AssignBody(Body):
    department = Code(required=True, metadata=doc("lead department (牵头单位)"))
    co_departments = fields.List(Code(), validate=validate.Length(max=20),
                                 metadata=doc("co-handling departments (责任单位)"))
    tier = Text(validate=validate.OneOf(TIERS), metadata=doc("red, yellow or blue (红黄蓝)"))
    note = Text(validate=validate.Length(max=1000))


class NoteBody(Body):
    note = Text(validate=validate.Length(max=1000))


class TransferBody(Body):
    department = Code(required=True, metadata=doc("the department it goes to (转办)"))
    reason = Text(required=True, not_blank=True, validate=validate.Length(1, 1000))


class ReasonBody(Body):
    reason = Text(required=True, not_blank=True, validate=validate.Length(1, 1000))


class ExtendBody(Body):
    days = StrictInteger(required=True, validate=validate.Range(1, 365),
                         metadata=doc("working days; the county's maximum applies"))
    reason = Text(required=True, not_blank=True, validate=validate.Length(1, 1000))


class ContentBody(Body):
    content = Text(required=True, not_blank=True, validate=validate.Length(1, 5000))


class FeedbackBody(Body):
    rating = StrictInteger(required=True, validate=validate.Range(1, 5), metadata=doc(
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

class Appeal(Answer):
    id: int
    channel: str
    enterprise_code: str
    enterprise_name: str | None
    contact_name: str
    contact_phone: str = doc("E.164")
    category: str
    town: str
    title: str
    content: str
    attachments: list[Attachment]
    tier: str = doc("red, yellow or blue")
    status: str = doc(" | ".join(STATUSES))
    lead_department: str | None
    co_departments: list[str]
    received_at: dt.datetime
    due_at: dt.datetime | None
    overdue: bool
    replied_at: dt.datetime | None
    replied_on_time: bool | None
    reply_content: str | None
    rating: int | None
    rating_comment: str | None
    closed_at: dt.datetime | None
    under_review: bool = doc("a bad rating opened a review")
    reopen_count: int
    extension_request: dict | None = doc("a department's request waiting for approval")
    escalation_level: int
    escalation_step: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    lat: float | None
    long: float | None
    address_string: str | None
    address_id: str | None
    contact_email: str | None
    device_id: str | None
    account_id: str | None
    history: list[HistoryEntry]


AppealSummary, AppealPage = summary_and_page(Appeal, "Appeal")


class DepartmentMonth(Answer):
    department: str
    received: int
    closed: int
    replied: int
    replied_on_time: int
    on_time_rate: float | None
    overdue: int
    rated: int
    satisfied: int
    satisfaction_rate: float | None
    average_rating: float | None


class MonthlyStats(Answer):
    month: str
    departments: list[DepartmentMonth]


class CodeName(Answer):
    code: str
    name: str


class TierDays(Answer):
    code: str
    working_days: int


class Reference(Answer):
    county: str
    channels: list[CodeName]
    categories: list[CodeName]
    towns: list[CodeName]
    departments: list[CodeName]
    tiers: list[TierDays]
    statuses: list[str]
    actions: list[str]


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
    cursor = cursor(load_default=None)


class LedgerExportQuery(LedgerQuery):
    format = Text(required=True, validate=validate.OneOf(["csv", "xlsx"]))
    limit = fields.Integer(load_default=QUICK_EXPORT_ROWS,
                           validate=validate.Range(1, QUICK_EXPORT_ROWS))


NO_NUL = validate.Regexp(r"^[^\x00]*$", error="must not contain NUL characters")
CODE = validate.Regexp(r"^[A-Za-z0-9_.*-]{1,32}$",
                       error="must be a code of 1 to 32 letters, digits, '_', '.', '-' or '*'")


class RouteChange(_In):
    """APP-2: who handles a category in a town — the lead department (牵头单位) and
    the co-handling departments (责任单位)."""
    lead_department = fields.String(required=True, validate=CODE, metadata=doc(
        "lead department code (牵头单位)", example="approval"))
    co_departments = fields.List(fields.String(validate=CODE), load_default=list,
                                 validate=validate.Length(max=20), metadata=doc(
        "co-handling department codes (责任单位)", example=["market"]))


class RouteIn(RouteChange):
    """APP-2: a route of the routing table: category × town → departments."""
    category = fields.String(required=True, validate=CODE, metadata=doc(
        "appeal category code", example="permit"))
    town = fields.String(required=True, validate=CODE, metadata=doc(
        "town code, or * for every town without a route of its own", example="hongshi"))


class RouteOut(Answer):
    """A route of the routing table (APP-2)."""
    category: str = doc("appeal category code", example="permit")
    town: str = doc("town code; * = any town", example="hongshi")
    lead_department: str = doc("lead department code (牵头单位)",
                                                 example="approval")
    co_departments: list[str] = doc("co-handling department codes (责任单位)", example=["market"])


class RouteHistoryQuery(_In):
    """Filters of the routing table's history; newest first."""
    category = fields.String(load_default=None, validate=CODE, metadata=doc(
        "only this category", example="permit"))
    town = fields.String(load_default=None, validate=CODE, metadata=doc(
        "only this town (* for the county-wide routes)", example="hongshi"))
    limit = fields.Integer(load_default=200, validate=validate.Range(1, 1000), metadata=doc(
        "at most this many entries", example=200))


ROUTE_CHANGES = ("added", "changed", "retired")


class RouteHistoryEntry(Answer):
    """One change of the routing table: who changed which route, when, from what."""
    id: int = doc("entry number, rising", example=1)
    category: str = doc("appeal category code", example="permit")
    town: str = doc("town code; * = any town", example="hongshi")
    change: str = doc(" | ".join(ROUTE_CHANGES), example="changed")
    lead_department: str | None = doc(
        "lead department after the change; null once retired", example="approval")
    co_departments: list[str] = doc("co-handling departments after the change", example=["market"])
    before: RouteChange | None = doc("the route before the change; null when it was added")
    actor: str = doc("who changed it (role:subject)", example="taskforce:tf-1")
    at: dt.datetime = doc("when", example="2026-10-08T09:00:00+00:00")


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
    evidence = fields.List(fields.Nested(Attachment), load_default=list,
                           validate=validate.Length(max=20))


# -- rectification lists (APP-9), the published contract ------------------------------

class Finding(_In):
    """One problem an evaluation found, as an item to rectify (整改事项)."""
    problem = fields.String(required=True, validate=[validate.Length(1, 5000), NO_NUL],
                            metadata=doc("the problem found", example="审批时限压缩不到位"))
    measure = fields.String(load_default=None, validate=[validate.Length(max=5000), NO_NUL],
                            metadata=doc("the measure to take (整改措施)",
                                         example="并联审批, 时限压缩至3个工作日"))
    lead_department = fields.String(required=True, validate=CODE, metadata=doc(
        "the owner: lead department code (牵头单位)", example="approval"))
    responsible_leader = fields.String(required=True, validate=[validate.Length(1, 50), NO_NUL],
                                       metadata=doc("the responsible leader (责任领导)",
                                                    example="王副县长"))
    co_departments = fields.List(fields.String(validate=CODE), load_default=list,
                                 validate=validate.Length(max=20), metadata=doc(
        "co-handling department codes (责任单位)", example=["market"]))
    deadline = fields.Date(required=True, metadata=doc("to be done by (整改时限)",
                                                       example="2026-12-31"))


class RectificationListIn(_In):
    """APP-9: an evaluation's findings become a rectification list (整改清单)."""
    source = fields.String(required=True, validate=[validate.Length(1, 200), NO_NUL], metadata=doc(
        "the evaluation that found the problems", example="2026年营商环境第三方评估"))
    title = fields.String(load_default=None, validate=[validate.Length(1, 200), NO_NUL],
                          metadata=doc("a title; default: the source", example="第三方评估整改清单"))
    findings = fields.List(fields.Nested(Finding), required=True,
                           validate=validate.Length(1, 500), metadata=doc(
        "the problems found, one item each"))


class RectificationListQuery(_In):
    """Filters of the rectification lists."""
    department = fields.String(load_default=None, validate=CODE, metadata=doc(
        "only lists with items this department leads or co-handles", example="approval"))


class RectificationClose(_In):
    """销号: an item closed by its lead department, with what proves it is done."""
    note = fields.String(required=True, validate=[validate.Length(1, 2000), NO_NUL], metadata=doc(
        "what was done", example="已压缩至3个工作日"))
    evidence = fields.List(fields.Nested(Attachment), required=True,
                           validate=validate.Length(1, 20), metadata=doc(
        "the proof: documents, photos (at least one)"))


class ExportOut(Answer):
    filename: str
    content_type: str
    rows: int
    content_base64: str


class RectificationOut(Answer):
    """An item of a rectification list (整改事项)."""
    id: int = doc("item number", example=1)
    list_id: int | None = doc("the list it belongs to", example=1)
    source: str = doc("the evaluation that found it", example="第三方评估")
    problem: str = doc("the problem found", example="审批时限压缩不到位")
    measure: str | None = doc("the measure to take")
    lead_department: str = doc("owner: lead department code",
                                                 example="approval")
    responsible_leader: str = doc("responsible leader (责任领导)",
                                                    example="王副县长")
    co_departments: list[str] = doc("co-handling department codes")
    deadline: dt.date = doc("to be done by", example="2026-12-31")
    status: str = doc("open | done", example="open")
    done_at: dt.datetime | None = doc("when it was closed (销号)")
    done_note: str | None = doc("what was done")
    evidence: list[Attachment] | None = doc("the proof given at closing")
    on_time: bool | None = doc("closed by the deadline")
    overdue: bool = doc("open past its deadline")


class Progress(Answer):
    """How far a rectification list has come."""
    total: int = doc("items", example=4)
    done: int = doc("items closed", example=1)
    open: int = doc("items still open", example=3)
    overdue: int = doc("open items past their deadline", example=0)
    done_on_time: int = doc("items closed by their deadline", example=1)
    percent_done: float = doc("done / total × 100, one decimal", example=25.0)


class RectificationListOut(Answer):
    """A rectification list (整改清单) with its items and progress."""
    id: int = doc("list number", example=1)
    source: str = doc("the evaluation", example="2026年营商环境第三方评估")
    title: str = doc("title", example="第三方评估整改清单")
    created_by: str = doc("who made it (role:subject)")
    created_at: dt.datetime = doc("when it was made")
    progress: Progress = doc("of the items the caller sees")
    items: list[RectificationOut] = doc(
        "the items the caller sees: all for the task force, a department's own")


# -- the three lists (APP-8), the published contract -----------------------------------

THREE_LISTS = ("tasks", "responsibilities", "deadlines")  # 任务, 责任, 时限清单
LIST_FORMATS = ("json", "csv", "xlsx")


class DepartmentListQuery(_In):
    """Which department, which period, which format."""
    department = fields.String(load_default=None, validate=CODE, metadata=doc(
        "department code; a department's own by default, required for the task force",
        example="approval"))
    period_from = fields.Date(load_default=None, metadata=doc(
        "from this day (Beijing time), inclusive", example="2026-10-01"))
    period_to = fields.Date(load_default=None, metadata=doc(
        "to this day (Beijing time), inclusive", example="2026-10-31"))
    format = fields.String(load_default="json", validate=validate.OneOf(LIST_FORMATS),
                           metadata=doc("json, csv or xlsx", example="json"))

    @validates_schema
    def _period(self, data, **kwargs):
        if data.get("period_from") and data.get("period_to") \
                and data["period_from"] > data["period_to"]:
            raise ValidationError({"period_to": ["is before period_from"]})


class DepartmentListRow(Answer):
    """One line of a list: an appeal or a rectification item the department owns."""
    kind: str = doc("appeal | rectification", example="appeal")
    id: int = doc("the appeal's or the item's number", example=42)
    title: str = doc("what it is about", example="营业执照变更迟迟未办")
    role: str = doc("lead (牵头) | co-handling (责任)", example="lead")
    lead_department: str | None = doc("lead department code",
                                                                  example="approval")
    co_departments: list[str] = doc("co-handling department codes")
    responsible_leader: str | None = doc("the responsible leader (rectification items)")
    status: str = doc("the appeal's or item's status", example="assigned")
    tier: str | None = doc("red | yellow | blue (appeals)")
    since: dt.datetime = doc("received (appeal) or listed (item)")
    due: dt.datetime | None = doc("the deadline")
    overdue: bool = doc("past the deadline and not done")


class DepartmentList(Answer):
    """三张清单: one of a department's three lists for a period."""
    list: str = doc("tasks | responsibilities | deadlines", example="tasks")
    department: str = doc("department code", example="approval")
    period_from: dt.date | None = doc("from this day, inclusive")
    period_to: dt.date | None = doc("to this day, inclusive")
    # typing.List: the field ``list`` above hides the builtin in this class
    rows: typing.List[DepartmentListRow] = doc("the list's lines")  # noqa: UP006


class ThreeLists(Schema):
    """APP-8 三张清单 for one department."""
    department = fields.String()
    tasks = fields.List(fields.Nested(Appeal(only=("id", "title", "status", "tier", "due_at", "overdue"))))
    responsibilities = fields.List(fields.Dict())
    deadlines = fields.List(fields.Nested(Appeal(only=("id", "title", "status", "tier", "due_at", "overdue"))))
