"""Payloads of the inspections service: every RPC argument and return value."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from kernel.schemas import StrictInput, load  # noqa: F401 (services call schemas.load)
from kernel.validators import CreditCode

from . import domain

_code = validate.Length(1, 40)
_month = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="must be YYYY-MM")


_In = StrictInput  # every RPC argument refuses unknown fields


def _unique(values):
    if len(set(values)) != len(values):
        raise ValidationError("lists the same code twice")


class InspectionIn(_In):
    """Filing a visit (报备, INS-4)."""
    department = fields.String(load_default=None, validate=_code)
    enterprise_code = CreditCode(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(
        domain.KINDS, error="unknown kind; one of {choices}"))
    planned_date = fields.Date(required=True)
    items = fields.List(fields.String(validate=_code), load_default=list,
                        validate=[validate.Length(max=50), _unique])
    inspectors = fields.List(fields.String(validate=_code), load_default=None,
                             validate=[validate.Length(max=20), _unique])
    # joint visits: the other departments taking part
    partner_departments = fields.List(fields.String(validate=_code), load_default=list,
                                      validate=[validate.Length(max=20), _unique])
    exempt_category = fields.String(load_default=None, validate=validate.Length(1, 32))
    reason = fields.String(load_default=None, validate=validate.Length(max=2000))
    draw_id = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=1))
    idempotency_key = fields.String(load_default=None, validate=validate.Length(1, 128))

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


class DecisionIn(_In):
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


class RejectIn(_In):
    note = fields.String(required=True, validate=validate.Length(1, 2000))


class CancelIn(_In):
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


class FindingIn(_In):
    item_code = fields.String(required=True, validate=_code)
    outcome = fields.String(required=True, validate=validate.OneOf(
        (domain.COMPLIANT, domain.VIOLATION)))
    finding = fields.String(load_default=None, validate=validate.Length(max=5000))
    violation_code = fields.String(load_default=None, validate=_code)
    severity = fields.String(load_default=None, validate=validate.OneOf(domain.SEVERITIES))

    @validates_schema
    def _violation(self, data, **kwargs):
        if data["outcome"] == domain.VIOLATION:
            errors = {}
            if not data.get("violation_code"):
                errors["violation_code"] = ["a violation names its code"]
            if not data.get("severity"):
                errors["severity"] = ["a violation says how serious it is"]
            if errors:
                raise ValidationError(errors)
        elif data.get("violation_code") or data.get("severity"):
            raise ValidationError({"outcome": ["a compliant item has no violation"]})


class ResultsIn(_In):
    """INS-8: findings per item."""
    findings = fields.List(fields.Nested(FindingIn), required=True,
                           validate=validate.Length(1, 100))

    @validates_schema
    def _once(self, data, **kwargs):
        codes = [f["item_code"] for f in data.get("findings", [])]
        if len(codes) != len(set(codes)):
            raise ValidationError({"findings": ["one finding per item"]})


class AfterTheFactIn(_In):
    """INS-5: the record of what was done (事毕备案)."""
    record = fields.String(required=True, validate=validate.Length(1, 5000))
    findings = fields.List(fields.Nested(FindingIn), load_default=list,
                           validate=validate.Length(max=100))


class MergeIn(_In):
    """INS-7: merge visits of several departments to one enterprise into one joint visit."""
    visit_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1)),
                            required=True, validate=[validate.Length(2, 20), _unique])
    planned_date = fields.Date(load_default=None)
    lead_department = fields.String(load_default=None, validate=_code)
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


class MonthQuery(_In):
    month = fields.String(required=True, validate=_month)
    enterprise_code = fields.String(load_default=None)


class DrawFilters(_In):
    industry = fields.List(fields.String(validate=validate.Length(1, 64)), load_default=None)
    town = fields.List(fields.String(validate=validate.Length(1, 32)), load_default=None)
    size = fields.List(fields.String(validate=validate.OneOf(domain.SIZES)), load_default=None)
    key_only = fields.Boolean(load_default=False)


class DrawIn(_In):
    """INS-6: a double random draw."""
    title = fields.String(required=True, validate=validate.Length(1, 200))
    department = fields.String(load_default=None, validate=_code)
    item_codes = fields.List(fields.String(validate=_code), load_default=list,
                             validate=[validate.Length(max=50), _unique])
    filters = fields.Nested(DrawFilters, load_default=dict)
    count = fields.Integer(required=True, strict=True, validate=validate.Range(1, 1000))
    # INS-6: the seed comes from the platform, after the population is fixed;
    # a caller's seed could be one found offline to select a chosen enterprise.
    seed = fields.Raw(load_default=None, allow_none=True, validate=validate.Equal(
        None, error="the platform draws the seed (INS-6); send none"))


class ListQuery(_In):
    department = fields.String(load_default=None)
    enterprise_code = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(domain.STATUSES))
    kind = fields.String(load_default=None, validate=validate.OneOf(domain.KINDS))
    month = fields.String(load_default=None, validate=_month)
    flagged = fields.Boolean(load_default=None)
    draw_id = fields.Integer(load_default=None, validate=validate.Range(min=1))
    cursor = fields.Integer(load_default=None, validate=validate.Range(min=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class ExceptionsQuery(_In):
    """INS-2/3/5: the emergencies and exemptions the task force watches."""
    month = fields.String(load_default=None, validate=_month)
    department = fields.String(load_default=None, validate=_code)
    over_quota = fields.Boolean(load_default=None)
    unreviewed = fields.Boolean(load_default=None)


class ReviewIn(_In):
    """INS-5: the head accepts or flags an emergency's record, saying why."""
    verdict = fields.String(required=True, validate=validate.OneOf(domain.REVIEW_VERDICTS))
    reason = fields.String(required=True, validate=validate.Length(1, 2000))


# The actions on one visit (``act``) and the parameters each takes.
VISIT_ACTION_PARAMS = {
    "approve": DecisionIn, "reject": RejectIn, "cancel": CancelIn,
    "after-filing": AfterTheFactIn, "results": ResultsIn, "review": ReviewIn,
}
assert set(VISIT_ACTION_PARAMS) <= set(domain.VISIT_ACTIONS)


class DirectoryQuery(_In):
    town = fields.String(load_default=None)
    industry = fields.String(load_default=None)
    key_only = fields.Boolean(load_default=False)
    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class ImportIn(_In):
    csv_text = fields.String(required=True, validate=validate.Length(1, 20_000_000))


class ItemIn(_In):
    code = fields.String(required=True, validate=_code)
    department = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    legal_basis = fields.String(required=True, validate=validate.Length(1, 5000))
    standard = fields.String(required=True, validate=validate.Length(1, 5000))
    industries = fields.List(fields.String(validate=validate.Length(1, 64)), load_default=list)
    frequency = fields.String(load_default=None, validate=validate.Length(max=100))
    active = fields.Boolean(load_default=True)


class ConflictIn(_In):
    credit_code = CreditCode(required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=300))


class InspectorIn(_In):
    code = fields.String(required=True, validate=_code)
    department = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=validate.Length(1, 50))
    certificate_no = fields.String(required=True, validate=validate.Length(1, 40))
    certificate_expires = fields.Date(load_default=None)
    active = fields.Boolean(load_default=True)
    conflicts = fields.List(fields.Nested(ConflictIn), load_default=list)


class RegistersIn(_In):
    """The seed file of items and inspectors (config/inspections/registers.json)."""
    items = fields.List(fields.Nested(ItemIn), load_default=list)
    inspectors = fields.List(fields.Nested(InspectorIn), load_default=list)


class NoPenaltyIn(_In):
    code = fields.String(required=True, validate=_code)
    violation_code = fields.String(required=True, validate=_code)
    name = fields.String(required=True, validate=validate.Length(1, 300))
    department = fields.String(load_default=None)


# -- out ------------------------------------------------------------------------

class ViolationOut(Schema):
    rule = fields.String()
    message = fields.String()


class ItemResultOut(Schema):
    item_code = fields.String()
    department = fields.String()
    name = fields.String()
    outcome = fields.String(allow_none=True)
    finding = fields.String(allow_none=True)
    violation_code = fields.String(allow_none=True)
    severity = fields.String(allow_none=True)
    first_offence = fields.Boolean(allow_none=True)
    penalised = fields.Boolean(allow_none=True)
    no_penalty_code = fields.String(allow_none=True)
    no_penalty_name = fields.String(allow_none=True)
    recorded_at = fields.AwareDateTime(allow_none=True)


class InspectorRefOut(Schema):
    code = fields.String(attribute="inspector_code")
    department = fields.String()
    name = fields.String()
    certificate_no = fields.String()


class HistoryOut(Schema):
    at = fields.AwareDateTime()
    actor = fields.String()
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    note = fields.String()


class InspectionOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    entry_code = fields.String()
    department = fields.String()
    departments = fields.List(fields.String())
    enterprise_code = fields.String()
    enterprise_name = fields.String()
    key_enterprise = fields.Boolean()
    planned_date = fields.Date()
    exempt_category = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    violations = fields.List(fields.Nested(ViolationOut))
    items = fields.List(fields.Nested(ItemResultOut))
    inspectors = fields.List(fields.Nested(InspectorRefOut))
    decided_by = fields.String(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)
    merged_into = fields.Integer(allow_none=True)
    merged_from = fields.List(fields.Integer())
    draw_id = fields.Integer(allow_none=True)
    after_due_at = fields.AwareDateTime(allow_none=True)
    after_filed_at = fields.AwareDateTime(allow_none=True)
    after_record = fields.String(allow_none=True)
    review = fields.String(allow_none=True)
    review_reason = fields.String(allow_none=True)
    reviewed_by = fields.String(allow_none=True)
    reviewed_at = fields.AwareDateTime(allow_none=True)
    over_quota = fields.Boolean()
    flagged_at = fields.AwareDateTime(allow_none=True)
    flag_reason = fields.String(allow_none=True)
    completed_at = fields.AwareDateTime(allow_none=True)
    token = fields.String()
    verify_url = fields.String()
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    history = fields.List(fields.Nested(HistoryOut))


class InspectionPage(Schema):
    items = fields.List(fields.Nested(InspectionOut(exclude=("history",))))
    next_cursor = fields.Integer(allow_none=True)


class EnterpriseOut(Schema):
    credit_code = fields.String()
    name = fields.String()
    town = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)
    size = fields.String(allow_none=True)
    above_scale = fields.Boolean()
    key_investment = fields.Boolean()
    key_project = fields.Boolean()
    key_enterprise = fields.Boolean()
    contact_name = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    updated_at = fields.AwareDateTime()


class ItemOut(ItemIn):
    updated_at = fields.AwareDateTime()


class ConflictOut(Schema):
    credit_code = fields.String()
    reason = fields.String()
    declared_at = fields.AwareDateTime()


class InspectorOut(Schema):
    code = fields.String()
    department = fields.String()
    name = fields.String()
    certificate_no = fields.String()
    certificate_expires = fields.Date(allow_none=True)
    active = fields.Boolean()
    conflicts = fields.List(fields.Nested(ConflictOut))
    updated_at = fields.AwareDateTime()


class DrawTargetOut(Schema):
    credit_code = fields.String()
    enterprise_name = fields.String()
    town = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)
    inspectors = fields.List(fields.Dict())
    inspection_id = fields.Integer(allow_none=True)
    status = fields.String(allow_none=True)
    violations_found = fields.Integer(allow_none=True)


class DrawOut(Schema):
    id = fields.Integer()
    title = fields.String()
    department = fields.String()
    item_codes = fields.List(fields.String())
    filters = fields.Dict()
    count = fields.Integer()
    per_target = fields.Integer()
    seed = fields.String()
    population = fields.Integer()
    roster_size = fields.Integer()
    targets = fields.List(fields.Nested(DrawTargetOut))
    created_at = fields.AwareDateTime()
    public_url = fields.String()
    # INS-6: what anyone needs to check it: the population and its digest,
    # the roster, when each was fixed, and which attempt this is.
    population_digest = fields.String(allow_none=True)
    population_fixed_at = fields.AwareDateTime(allow_none=True)
    seeded_at = fields.AwareDateTime(allow_none=True)
    attempt = fields.Integer()
    candidates = fields.List(fields.String())
    roster = fields.List(fields.String())
    conflicts = fields.List(fields.List(fields.String()))


class DrawSummaryOut(Schema):
    id = fields.Integer()
    title = fields.String()
    department = fields.String()
    count = fields.Integer()
    seed = fields.String()
    attempt = fields.Integer()
    population = fields.Integer()
    population_digest = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    public_url = fields.String()


class ReplayOut(Schema):
    draw_id = fields.Integer()
    seed = fields.String()
    population_digest = fields.String(allow_none=True)
    digest_matches = fields.Boolean()
    matches = fields.Boolean()
    result = fields.List(fields.Dict())
