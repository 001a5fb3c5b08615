"""The published contract of the inspections service (入企检查, INS-1 … INS-9):
every RPC argument and return value, which are also what HTTP clients send
and get back — the gateway imports this module to validate request bodies and
to build the OpenAPI document, and keeps no copy.

A refusal names every field, nested ones dotted like ``findings.0.severity``.
The rules themselves — quiet days, the cap, the registers, who heads the task
force — are in ``domain``; this module imports only the kernel and the
domain's vocabulary.
"""
import datetime as dt

from marshmallow import ValidationError, fields, validate, validates_schema

from kernel.fields import (MAX_ID, MONTH, Answer, Body, Code, Day, HistoryEntry, StrictInteger,
                           Text, cursor, summary_and_page)
from kernel.fields import doc as _doc
from kernel.fields import unique as _unique
from kernel.schemas import load  # noqa: F401 (the service calls schemas.load)
from kernel.validators import CreditCode

from . import domain

# The vocabulary of the contract.
KINDS = domain.KINDS
STATUSES = domain.STATUSES
ENTRY_CODES = (domain.GREEN, domain.RED)
OUTCOMES = (domain.COMPLIANT, domain.VIOLATION)
SEVERITIES = domain.SEVERITIES
SIZES = domain.SIZES
_MISSING = "Missing data for required field."
# Item and inspector codes of the registers (e.g. MKT-001, MKT-I-01): up to 40.
REGISTER_CODE = validate.Regexp(r"^[A-Za-z0-9_.-]{1,40}$",
                                error="must be a code of 1 to 40 letters, digits, '_', '.' or '-'")


_code = validate.Length(1, 40)


class RegisterCode(Text):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("validate", REGISTER_CODE)
        super().__init__(*args, **kwargs)


def _for_itself(what):
    """A department acts for itself; the task force says for which department."""
    def check(self, data, original, **kwargs):
        caller = self.context.get("caller")
        given = original if isinstance(original, dict) else {}
        if caller is not None and caller.role == "department":
            if (data.get("department") or caller.org) != caller.org:
                raise ValidationError({"department": [
                    f"a department {what} for itself: leave it out"]})
        elif "department" not in given:
            raise ValidationError({"department": [_MISSING]})
    return validates_schema(pass_original=True, skip_on_field_errors=False)(check)


# -- in -------------------------------------------------------------------------

class InspectionCreate(Body):
    """Filing a visit before it is made (报备, INS-4)."""
    department = Code(load_default=None, metadata=_doc(
        "the filing department; taken from the credential for a department (leave it out), "
        "required for the task force", example="market"))
    enterprise_code = CreditCode(required=True, metadata=_doc(
        "the enterprise visited: its unified social credit code (统一社会信用代码), in the "
        "directory", example="91433126MA4L00060G"))
    kind = Text(required=True, validate=validate.OneOf(KINDS), metadata=_doc(
        "routine 日常检查 | joint 联合检查 | research 调研 | emergency 紧急检查 (approved at "
        "once, filed afterwards: INS-5)", example="routine"))
    planned_date = Day(required=True, metadata=_doc(
        "the day of the visit (Shanghai); not in the past — an emergency's is today or "
        "earlier", example="2026-12-15"))
    items = fields.List(RegisterCode(), load_default=list, validate=[validate.Length(max=50), _unique], metadata=_doc(
        "inspection item codes from the department's list (INS-1); at least one except for "
        "research", example=["MKT-001"]))
    inspectors = fields.List(RegisterCode(), load_default=None, validate=[validate.Length(max=20), _unique],
                             metadata=_doc("inspector codes from the roster (INS-1)",
                                           example=["MKT-I-01", "MKT-I-03"]))
    partner_departments = fields.List(Code(), load_default=list, validate=[validate.Length(max=20), _unique],
                                      metadata=_doc("joint visits only: the other departments"))
    exempt_category = Code(load_default=None, metadata=_doc(
        "exempts the visit from the quiet days (INS-2): public_safety, life_and_property, "
        "special_industry, key_field (the county's configuration)"))
    reason = Text(load_default=None, validate=validate.Length(max=2000), metadata=_doc(
        "why; required for an emergency", example="年度计划内检查"))
    draw_id = StrictInteger(load_default=None, validate=validate.Range(1, MAX_ID), metadata=_doc(
        "a double random draw this enterprise was drawn in (INS-6): the drawn inspectors go"))

    _who_files = _for_itself("files")

    @validates_schema(skip_on_field_errors=False)
    def _shape(self, data, **kwargs):
        errors = {}
        kind = data.get("kind")
        if kind in (domain.ROUTINE, domain.JOINT, domain.EMERGENCY) and not data.get("items"):
            errors["items"] = ["an inspection names at least one inspection item (INS-1)"]
        if kind != domain.JOINT and data.get("partner_departments"):
            errors["partner_departments"] = ["only a joint visit has partner departments"]
        if kind == domain.JOINT and not data.get("partner_departments"):
            errors["partner_departments"] = ["a joint visit names its partner departments"]
        if kind == domain.EMERGENCY and not (data.get("reason") or "").strip():
            errors["reason"] = ["an emergency visit says why it could not wait"]
        if kind in (domain.ROUTINE, domain.JOINT, domain.EMERGENCY) \
                and not data.get("inspectors") and not data.get("draw_id"):
            errors["inspectors"] = ["an inspection names its inspectors (INS-1)"]
        policy = self.context.get("policy")
        exempt = data.get("exempt_category")
        if policy is not None and exempt is not None and exempt not in policy.exempt_categories:
            errors["exempt_category"] = [
                f"unknown exempt category; one of {', '.join(policy.exempt_categories)}"]
        if errors:
            raise ValidationError(errors)


class InspectionIn(InspectionCreate):
    """Filing a visit over RPC: the gateway adds the Idempotency-Key header's value."""
    idempotency_key = fields.String(load_default=None, validate=validate.Length(1, 128))


class InspectionQuery(Body):
    """Filters of the inspections list; pages are newest first."""
    department = Code(metadata=_doc("a department taking part"))
    enterprise_code = CreditCode()
    status = Text(validate=validate.OneOf(STATUSES))
    kind = Text(validate=validate.OneOf(KINDS))
    month = Text(validate=MONTH, metadata=_doc("the planned date's month, YYYY-MM"))
    flagged = fields.Boolean(metadata=_doc("true: emergencies flagged for a late or missing record"))
    draw_id = fields.Integer(validate=validate.Range(1, MAX_ID))
    cursor = cursor()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class DecisionBody(Body):
    note = Text(validate=validate.Length(max=2000), metadata=_doc("the head's note", example="同意"))


class RejectBody(Body):
    note = Text(required=True, not_blank=True, validate=validate.Length(1, 2000),
                metadata=_doc("why not", example="与年度检查计划重复"))


class CancelBody(Body):
    reason = Text(required=True, not_blank=True, validate=validate.Length(1, 2000),
                  metadata=_doc("why", example="计划调整"))


class Finding(Body):
    item_code = RegisterCode(required=True, metadata=_doc("an item of this visit"))
    outcome = Text(required=True, validate=validate.OneOf(OUTCOMES))
    finding = Text(validate=validate.Length(max=5000), metadata=_doc("what was found"))
    violation_code = RegisterCode(metadata=_doc("a violation's code", example="MKT-LICENCE-DISPLAY"))
    severity = Text(validate=validate.OneOf(SEVERITIES), metadata=_doc("轻微 / 一般 / 严重"))

    @validates_schema
    def _violation(self, data, **kwargs):
        if data["outcome"] == "violation":
            errors = {f: ["a violation names it"] for f in ("violation_code", "severity")
                      if not data.get(f)}
            if errors:
                raise ValidationError(errors)
        elif data.get("violation_code") or data.get("severity"):
            raise ValidationError({"outcome": ["a compliant item has no violation"]})


class ResultsBody(Body):
    """INS-8: findings per item; a first minor violation on the no-penalty list is not penalised."""
    findings = fields.List(fields.Nested(Finding), required=True, validate=validate.Length(1, 100),
                           metadata=_doc("one per item", example=[
                               {"item_code": "MKT-001", "outcome": "compliant"}]))


class AfterFilingBody(Body):
    """INS-5: an emergency visit's record, filed afterwards (事毕备案)."""
    record = Text(required=True, not_blank=True, validate=validate.Length(1, 5000),
                  metadata=_doc("what was done", example="已关闭阀门，无人员伤亡"))
    findings = fields.List(fields.Nested(Finding), validate=validate.Length(max=100))


class ReviewBody(Body):
    """INS-5: the task force's head reviews an emergency's record, once."""
    verdict = Text(required=True, validate=validate.OneOf(("accepted", "flagged")),
                   metadata=_doc("accepted | flagged", example="flagged"))
    reason = Text(required=True, not_blank=True, validate=validate.Length(1, 2000),
                  metadata=_doc("why", example="并非紧急, 应事前报备"))


ACTION_BODIES = {"approve": DecisionBody, "reject": RejectBody, "cancel": CancelBody,
                 "after-filing": AfterFilingBody, "results": ResultsBody, "review": ReviewBody}
ACTION_SUMMARIES = {
    "approve": "The task force's head approves a pending visit: its code turns green (INS-4)",
    "reject": "The task force's head rejects a pending visit (INS-4)",
    "cancel": "Cancel a visit (the filing department or the task force); it stops counting",
    "after-filing": "File an emergency visit's record afterwards (事毕备案, INS-5)",
    "results": "Record findings per item (INS-8 首违不罚); all recorded → completed",
    "review": "The task force's head accepts or flags an emergency's record, with a reason (INS-5)",
}


class JointMerge(Body):
    """INS-7: several departments' visits to one enterprise in one month → one joint visit."""
    visit_ids = fields.List(StrictInteger(validate=validate.Range(1, MAX_ID)), required=True,
                            validate=[validate.Length(2, 20), _unique],
                            metadata=_doc("the visits merged", example=[3, 4]))
    planned_date = Day(metadata=_doc("default: the earliest of theirs; same month"))
    lead_department = Code(metadata=_doc("one of theirs; default: the earliest visit's"))
    note = Text(validate=validate.Length(max=2000))


class JointQuery(Body):
    month = Text(required=True, validate=MONTH, metadata=_doc("YYYY-MM", example="2026-12"))
    enterprise_code = CreditCode()


class DrawFilters(Body):
    industry = fields.List(Text(validate=validate.Length(1, 64)), validate=validate.Length(max=50))
    town = fields.List(Code(), validate=validate.Length(max=50))
    size = fields.List(Text(validate=validate.OneOf(SIZES)), validate=validate.Length(max=4))
    key_only = fields.Boolean(metadata=_doc("only key enterprises (规上, 招商引资重点, 重点项目)"))


class DrawCreate(Body):
    """INS-6: a double random draw (双随机): targets from the directory, two inspectors each."""
    title = Text(required=True, not_blank=True, validate=validate.Length(1, 200),
                 metadata=_doc("", example="2026年第四季度食品安全双随机抽查"))
    department = Code(metadata=_doc(
        "the drawing department; taken from the credential for a department, required for "
        "the task force", example="market"))
    item_codes = fields.List(RegisterCode(), validate=[validate.Length(max=50), _unique],
                             metadata=_doc("the department's items checked", example=["MKT-001"]))
    filters = fields.Nested(DrawFilters, metadata=_doc("which enterprises may be drawn"))
    count = StrictInteger(required=True, validate=validate.Range(1, 1000),
                          metadata=_doc("targets to draw", example=2))
    # no seed: the platform draws it after the population is fixed (INS-6)

    _who_draws = _for_itself("draws")


class ExceptionsQuery(Body):
    """INS-2/3/5: the emergencies and exemptions the task force watches."""
    month = Text(validate=MONTH, metadata=_doc("YYYY-MM"))
    department = Code()
    over_quota = fields.Boolean(metadata=_doc("true: beyond the department's monthly number"))
    unreviewed = fields.Boolean(metadata=_doc("true: emergencies whose record is not yet reviewed"))


class PlanQuery(Body):
    year = fields.Integer(validate=validate.Range(2000, 2100),
                          metadata=_doc("default: this year (Shanghai)", example=2026))


# -- out --------------------------------------------------------------------------

class RuleBroken(Answer):
    rule: str = _doc("rule ID: INS-1 … INS-7", example="INS-2")
    message: str


class ItemResult(Answer):
    item_code: str
    department: str
    name: str
    outcome: str | None = _doc(" | ".join(OUTCOMES))
    finding: str | None
    violation_code: str | None
    severity: str | None
    first_offence: bool | None
    penalised: bool | None = _doc("false: 首违不罚 applied (INS-8)")
    no_penalty_code: str | None = _doc("the no-penalty list entry")
    no_penalty_name: str | None
    recorded_at: dt.datetime | None


class InspectorRef(Body):
    code = fields.String(attribute="inspector_code")
    department = fields.String()
    name = fields.String()
    certificate_no = fields.String(metadata=_doc("执法证号"))


class Inspection(Answer):
    id: int
    kind: str = _doc(" | ".join(KINDS))
    status: str = _doc(" | ".join(STATUSES))
    entry_code: str = _doc("green: approved or completed; red: anything else")
    department: str = _doc("the filing (lead) department")
    departments: list[str]
    enterprise_code: str
    enterprise_name: str
    key_enterprise: bool = _doc("counts toward the monthly cap (INS-3)")
    planned_date: dt.date
    exempt_category: str | None
    reason: str | None
    violations: list[RuleBroken] = _doc("every rule the plan breaks, by rule ID")
    items: list[ItemResult]
    inspectors: list[InspectorRef]
    decided_by: str | None = _doc("'rules', or the head")
    decided_at: dt.datetime | None
    decision_note: str | None
    merged_into: int | None
    merged_from: list[int]
    draw_id: int | None
    after_due_at: dt.datetime | None = _doc("an emergency's record is due by then (INS-5)")
    after_filed_at: dt.datetime | None
    after_record: str | None
    review: str | None = _doc(
        "the head's review of an emergency's record: accepted | flagged (INS-5)")
    review_reason: str | None
    reviewed_by: str | None
    reviewed_at: dt.datetime | None
    over_quota: bool = _doc(
        "an emergency or exemption beyond the department's monthly number (INS-2/3/5)")
    flagged_at: dt.datetime | None
    flag_reason: str | None = _doc("late_filing | missing_filing")
    completed_at: dt.datetime | None
    verify_url: str = _doc("what the entry code's QR code opens (public)")
    created_at: dt.datetime
    updated_at: dt.datetime
    history: list[HistoryEntry]


class InspectionOut(Inspection):
    """What the service answers: the visit and its entry code's signed token
    (the gateway shows ``verify_url`` only)."""
    token: str


InspectionSummary, InspectionPage = summary_and_page(Inspection, "Inspection")


class CandidateVisit(Answer):
    id: int
    department: str
    kind: str
    status: str
    planned_date: dt.date


class JointCandidate(Answer):
    enterprise_code: str
    enterprise_name: str
    key_enterprise: bool
    month: str
    departments: list[str]
    visits: list[CandidateVisit]


class JointCandidates(Answer):
    month: str
    items: list[JointCandidate] = _doc("enterprises visited by two or more departments that month")


class DrawnInspector(Answer):
    code: str
    name: str
    certificate_no: str


class DrawTarget(Answer):
    credit_code: str
    enterprise_name: str
    town: str | None
    industry: str | None
    inspectors: list[DrawnInspector]
    inspection_id: int | None
    status: str | None
    violations_found: int | None


class Draw(Answer):
    id: int
    title: str
    department: str
    item_codes: list[str]
    filters: dict
    count: int
    per_target: int
    seed: str = _doc(
        "drawn by the platform after the population was fixed; re-run the draw with it")
    population: int = _doc("enterprises it was drawn from")
    roster_size: int
    targets: list[DrawTarget]
    created_at: dt.datetime
    public_url: str = _doc("the public page (一公开)")
    population_digest: str | None = _doc(
        "SHA-256 of the inputs (population, roster, conflicts, count), recorded before the seed")
    population_fixed_at: dt.datetime | None
    seeded_at: dt.datetime | None
    attempt: int = _doc(
        "the department's draws from this same population so far, this one included")
    candidates: list[str] = _doc("the population: credit codes")
    roster: list[str] = _doc("the inspectors it could draw")
    conflicts: list[list[str]] = _doc(
        "declared conflicts [inspector, credit code] the draw avoided")


class DrawReplay(Answer):
    """INS-6: a draw re-run from its stored inputs, by anyone."""
    draw_id: int
    seed: str
    population_digest: str | None
    digest_matches: bool = _doc("the stored inputs hash to the recorded digest")
    matches: bool = _doc("the re-run gives the recorded result")
    result: list[dict]


class PlanEnterprise(Answer):
    credit_code: str
    name: str
    town: str | None
    industry: str | None
    key_enterprise: bool


class PlanInspection(Answer):
    id: int
    kind: str
    status: str
    entry_code: str
    department: str
    departments: list[str]
    planned_date: dt.date
    items: list[ItemResult]


class PlanDraw(Answer):
    draw_id: int
    title: str
    department: str
    created_at: dt.datetime


class Standard(Answer):
    department: str
    department_name: str
    item_code: str
    name: str
    legal_basis: str
    standard: str
    frequency: str | None


class YearlyPlan(Answer):
    """INS-9: what an enterprise will face this year."""
    enterprise: PlanEnterprise
    year: int
    monthly_cap: int | None = _doc("key enterprises only (INS-3)")
    inspections: list[PlanInspection]
    draws: list[PlanDraw] = _doc("draws it was drawn in")
    standards: list[Standard] = _doc("the inspection items and standards for its industry")


class ImportRowError(Answer):
    line: int = _doc("file line where the record starts; header = 1")
    column: str | None = _doc("the header as written in the file")
    field: str | None
    message: str


class ImportReport(Answer):
    rows: int
    loaded: int
    rejected: int
    created: int
    updated: int
    unchanged: int
    errors: list[ImportRowError]


# -- the service's own RPCs (registers, the directory, reference data) -----------------

class ListQuery(InspectionQuery):
    """``list_inspections``: every filter optional (None: not filtered)."""
    department = Code(load_default=None)
    enterprise_code = CreditCode(load_default=None)
    status = Text(load_default=None, validate=validate.OneOf(STATUSES))
    kind = Text(load_default=None, validate=validate.OneOf(KINDS))
    month = Text(load_default=None, validate=MONTH)
    flagged = fields.Boolean(load_default=None)
    draw_id = fields.Integer(load_default=None, validate=validate.Range(1, MAX_ID))
    cursor = cursor(load_default=None)


class MonthQuery(JointQuery):
    enterprise_code = CreditCode(load_default=None)


class ExceptionsIn(ExceptionsQuery):
    month = Text(load_default=None, validate=MONTH)
    department = Code(load_default=None)
    over_quota = fields.Boolean(load_default=None)
    unreviewed = fields.Boolean(load_default=None)


# The actions on one visit (``act``) and the parameters each takes.
VISIT_ACTION_PARAMS = ACTION_BODIES
assert set(VISIT_ACTION_PARAMS) <= set(domain.VISIT_ACTIONS)


class DirectoryQuery(Body):
    town = fields.String(load_default=None)
    industry = fields.String(load_default=None)
    key_only = fields.Boolean(load_default=False)
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class RegisterHistoryQuery(Body):
    """INS-1: the registers' change history, newest first."""
    register = Text(load_default=None, validate=validate.OneOf(("item", "inspector")),
                    metadata=_doc("item | inspector"))
    department = Code(load_default=None, metadata=_doc("a department sees its own"))
    code = RegisterCode(load_default=None, metadata=_doc("one item or inspector"))
    cursor = cursor(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


# "fields" is a column's name here, so the schema is built from a dict (a class
# attribute of that name would hide marshmallow's ``fields`` module).
RegisterChangeOut = Body.from_dict({
    "id": fields.Integer(),
    "register": fields.String(metadata=_doc("item | inspector")),
    "code": fields.String(),
    "department": fields.String(),
    "change": fields.String(metadata=_doc("create | update")),
    "fields": fields.Dict(metadata=_doc("each changed field: [before, after]")),
    "actor": fields.String(),
    "at": fields.AwareDateTime(),
}, name="RegisterChangeOut")


class RegisterHistory(Answer):
    items: list[RegisterChangeOut]
    next_cursor: int | None


class ImportIn(Body):
    csv_text = fields.String(required=True, validate=validate.Length(1, 20_000_000))


class ItemBody(Body):
    """INS-1: one item of a department's list (检查事项清单); PUT by its code."""
    department = Code(required=True, metadata=_doc("the department whose list it is",
                                                    example="market"))
    name = Text(required=True, validate=validate.Length(1, 200), metadata=_doc("", example="计量器具检查"))
    legal_basis = Text(required=True, validate=validate.Length(1, 5000),
                       metadata=_doc("the law or rule it rests on", example="《计量法》第二十一条"))
    standard = Text(required=True, validate=validate.Length(1, 5000), metadata=_doc(
        "what is checked", example="强检器具在检定有效期内"))
    industries = fields.List(Text(validate=validate.Length(1, 64)), load_default=list,
                             metadata=_doc("the industries it applies to; empty: every one"))
    frequency = Text(load_default=None, validate=validate.Length(max=100))
    active = fields.Boolean(load_default=True, metadata=_doc("false: struck off the list"))


class ItemIn(ItemBody):
    code = RegisterCode(required=True)


class ConflictIn(Body):
    credit_code = CreditCode(required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=300))


class InspectorBody(Body):
    """INS-1: one inspector of a department's roster (执法人员名录); PUT by code."""
    department = Code(required=True, metadata=_doc("", example="market"))
    name = Text(required=True, validate=validate.Length(1, 50), metadata=_doc("", example="周敏"))
    certificate_no = Text(required=True, validate=validate.Length(1, 40),
                          metadata=_doc("执法证号", example="43312601099"))
    certificate_expires = Day(load_default=None)
    active = fields.Boolean(load_default=True, metadata=_doc("false: off the roster"))
    conflicts = fields.List(fields.Nested(ConflictIn), load_default=list, metadata=_doc(
        "declared conflicts of interest (利害关系): never drawn for, never sent to"))


class InspectorIn(InspectorBody):
    code = RegisterCode(required=True)


class RegistersIn(Body):
    """The seed file of items and inspectors (config/inspections/registers.json)."""
    items = fields.List(fields.Nested(ItemIn), load_default=list)
    inspectors = fields.List(fields.Nested(InspectorIn), load_default=list)


class NoPenaltyIn(Body):
    code = fields.String(required=True, validate=_code)
    violation_code = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=validate.Length(1, 300))
    department = fields.String(load_default=None)


class EnterpriseOut(Answer):
    credit_code: str
    name: str
    town: str | None
    industry: str | None
    size: str | None
    above_scale: bool
    key_investment: bool
    key_project: bool
    key_enterprise: bool
    contact_name: str | None
    contact_phone: str | None
    address: str | None
    updated_at: dt.datetime


class ItemOut(ItemIn):
    updated_at = fields.AwareDateTime()


class ItemList(Answer):
    items: list[ItemOut]


class ConflictOut(Answer):
    credit_code: str
    reason: str
    declared_at: dt.datetime


class InspectorOut(Answer):
    code: str
    department: str
    name: str
    certificate_no: str
    certificate_expires: dt.date | None
    active: bool
    conflicts: list[ConflictOut]
    updated_at: dt.datetime


class InspectorList(Answer):
    items: list[InspectorOut]


class DrawSummaryOut(Answer):
    id: int
    title: str
    department: str
    count: int
    seed: str
    attempt: int
    population: int
    population_digest: str | None
    created_at: dt.datetime
    public_url: str
