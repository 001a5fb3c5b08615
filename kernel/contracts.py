"""Event contracts: the only thing services share about each other's events.

Every event travels in an ``Envelope`` (event_id, event_type, schema_version,
occurred_at, source, data); ``data`` is checked against the schema registered
for its type on the way out (outbox) and on the way in (consumers).
"""
from marshmallow import EXCLUDE, Schema, fields, validate

from kernel.schemas import shared

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


# -- inspections (INS-1 … INS-9) ---------------------------------------------------

class RuleBroken(_Event):
    rule = fields.String(required=True)  # INS-1 … INS-9
    message = fields.String(required=True)


class InspectionRef(_Event):
    """What every inspection event carries, so consumers need not call back."""
    inspection_id = fields.Integer(required=True)
    kind = fields.String(required=True)  # routine | joint | research | emergency
    status = fields.String(required=True)  # pending_approval | approved | rejected | ...
    entry_code = fields.String(required=True)  # green | red
    department = fields.String(required=True)  # the filing (lead) department
    departments = fields.List(fields.String(), load_default=list)
    enterprise_code = fields.String(required=True)
    key_enterprise = fields.Boolean(load_default=False)
    planned_date = fields.Date(required=True)
    violations = fields.List(fields.Nested(RuleBroken), load_default=list)


class InspectionFiled(InspectionRef):
    filed_by = fields.String(required=True)


class InspectionDecided(InspectionRef):
    """approved / rejected: by the rules at filing (``automatic``) or by the head."""
    decided_by = fields.String(required=True)
    automatic = fields.Boolean(required=True)
    note = fields.String(allow_none=True)


class InspectionCancelled(InspectionRef):
    reason = fields.String(required=True)


class InspectionFlagged(InspectionRef):
    """INS-5: an emergency's after-the-fact filing late or missing, against the department."""
    reason = fields.String(required=True)  # late_filing | missing_filing
    due_at = fields.AwareDateTime(required=True)
    filed_at = fields.AwareDateTime(allow_none=True)


class InspectionReviewed(InspectionRef):
    """INS-5: the task force's head reviewed an emergency's record."""
    verdict = fields.String(required=True)  # accepted | flagged
    reason = fields.String(required=True)
    reviewed_by = fields.String(required=True)


class InspectionAfterFiled(InspectionRef):
    due_at = fields.AwareDateTime(required=True)
    filed_at = fields.AwareDateTime(required=True)
    on_time = fields.Boolean(required=True)


class ItemResult(_Event):
    item_code = fields.String(required=True)
    department = fields.String(required=True)
    outcome = fields.String(required=True)  # compliant | violation
    violation_code = fields.String(allow_none=True)
    severity = fields.String(allow_none=True)
    penalised = fields.Boolean(allow_none=True)
    no_penalty_code = fields.String(allow_none=True)  # 首违不罚 list entry applied


class InspectionCompleted(InspectionRef):
    results = fields.List(fields.Nested(ItemResult), required=True)
    violations_found = fields.Integer(required=True)
    not_penalised = fields.Integer(required=True)


class InspectionMerged(InspectionRef):
    """INS-7: the joint visit that now stands for ``merged_from``."""
    merged_from = fields.List(fields.Integer(), required=True)


class InspectionDrawn(_Event):
    """INS-6: a double random draw, reproducible from its seed."""
    draw_id = fields.Integer(required=True)
    department = fields.String(required=True)
    seed = fields.String(required=True)
    count = fields.Integer(required=True)
    targets = fields.List(fields.String(), required=True)  # credit codes


# -- scoring (SCO-1 … SCO-7): what notify and others act on -------------------------

class SubjectRef(_Event):
    """Who or what is rated, carded or ranked: a window, a window clerk, a
    department or town, a section chief, an official. ``department`` is the
    unit the subject belongs to (for a department or town, its own code)."""
    subject_kind = fields.String(required=True)  # window | clerk | department | town | section_chief | official
    subject_code = fields.String(required=True)
    department = fields.String(allow_none=True)


class RatingBad(SubjectRef):
    """SCO-1 差评必纠: a rating of 1–2; a follow-up case was opened for it."""
    rating_id = fields.Integer(required=True)
    rating = fields.Integer(required=True, validate=validate.Range(1, 2))
    followup_id = fields.Integer(required=True)
    due_at = fields.AwareDateTime(required=True)
    enterprise_code = fields.String(allow_none=True)
    source = fields.String(required=True)  # qr | appeal | inspection | session


class CardIssued(SubjectRef):
    """SCO-2 红黄牌: a card given by the task force; an investigation is open."""
    card_id = fields.Integer(required=True)
    colour = fields.String(required=True, validate=validate.OneOf(("yellow", "red")))
    reason = fields.String(required=True)
    issued_by = fields.String(required=True)


class RankingPublished(_Event):
    """SCO-3: a ranking frozen with the digest of the raw data it used."""
    ranking_id = fields.Integer(required=True)
    kind = fields.String(required=True)  # e.g. windows_monthly, units_quarterly
    period = fields.String(required=True)  # 2026-11, 2026-Q4, 2026
    version = fields.Integer(required=True)
    replaces = fields.Integer(allow_none=True)
    digest = fields.String(required=True)
    best = fields.List(fields.String(), load_default=list)  # subject codes
    worst = fields.List(fields.String(), load_default=list)


class FollowupOverdue(SubjectRef):
    """A bad rating's follow-up case past its deadline (escalates like an appeal)."""
    followup_id = fields.Integer(required=True)
    rating_id = fields.Integer(required=True)
    due_at = fields.AwareDateTime(required=True)
    level = fields.Integer(required=True)
    step = fields.String(required=True)


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
    "inspection.filed": InspectionFiled,
    "inspection.approved": InspectionDecided,
    "inspection.rejected": InspectionDecided,
    "inspection.cancelled": InspectionCancelled,
    "inspection.flagged": InspectionFlagged,
    "inspection.after_filed": InspectionAfterFiled,
    "inspection.reviewed": InspectionReviewed,
    "inspection.completed": InspectionCompleted,
    "inspection.merged": InspectionMerged,
    "inspection.drawn": InspectionDrawn,
    "rating.bad": RatingBad,
    "card.issued": CardIssued,
    "ranking.published": RankingPublished,
    "followup.overdue": FollowupOverdue,
}


def register(event_type, schema_cls):
    """Services add their own event types here at import time (one registry)."""
    if event_type in EVENTS and EVENTS[event_type] is not schema_cls:
        raise ValueError(f"event type {event_type} already registered")
    EVENTS[event_type] = schema_cls


def schema_for(event_type):
    """The (shared) schema instance of an event type's payload."""
    try:
        return shared(EVENTS[event_type])
    except KeyError:
        raise KeyError(f"no contract for event type {event_type!r}") from None
