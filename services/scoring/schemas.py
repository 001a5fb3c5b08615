"""The published contract of the scoring service (评价): every RPC argument and
return value. The gateway validates its scoring routes with these schemas, so
what a client sends is checked once, by the owner's own definition."""
from marshmallow import Schema, ValidationError, fields, validate

from kernel.fields import HistoryEntry
from kernel.schemas import StrictInput, dump, load  # noqa: F401 (services call schemas.load)
from kernel.validators import CreditCode

from . import domain

CODE = validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$",
                       error="must be a code of letters, digits, '_', '.' or '-'")
QUARTER = validate.Regexp(r"^\d{4}-Q[1-4]$", error="a quarter like 2026-Q4")
MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="a month like 2026-11")
PERIOD = validate.Regexp(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$",
                         error="a month 2026-11, a quarter 2026-Q4 or a year 2026")
MAX_ID = 2**63 - 1


class Text(fields.String):
    """A string without NUL characters (PostgreSQL refuses them), not blank when required."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in value:
            raise ValidationError("must not contain NUL characters")
        if self.required and not value.strip():
            raise ValidationError("must not be blank")
        return value


class Score(fields.Integer):
    """A JSON number, never ``true`` or ``"5"``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("strict", True)
        super().__init__(*args, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


# -- SCO-1 ratings ------------------------------------------------------------------------

class RatingCreate(StrictInput):
    """An enterprise rates a subject for one service event (its ticket, the
    appeal or the visit): once per enterprise, subject and event."""
    subject_code = Text(required=True, validate=CODE)
    service_event = Text(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_.:-]{1,64}$", error="a ticket number of 1 to 64 letters, digits, '_.:-'"))
    score = Score(required=True, validate=validate.Range(1, 5))
    comment = Text(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    enterprise_code = CreditCode(load_default=None)  # set from the caller's token


class RatingQuery(StrictInput):
    subject_code = Text(load_default=None, validate=CODE)
    period = Text(load_default=None, validate=MONTH)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class RatingOut(Schema):
    id = fields.Integer()
    subject_code = fields.String()
    subject_kind = fields.String()
    department = fields.String()
    enterprise_code = fields.String()
    service_event = fields.String()
    source = fields.String()
    score = fields.Integer()
    comment = fields.String(allow_none=True)
    period = fields.String()
    rated_at = fields.AwareDateTime()
    followup_id = fields.Integer(allow_none=True)


class SubjectOut(Schema):
    code = fields.String()
    kind = fields.String()
    name = fields.String()
    department = fields.String()
    rating_url = fields.String()


class SubjectQuery(StrictInput):
    kind = Text(load_default=None, validate=validate.OneOf(domain.SUBJECT_KINDS))
    department = Text(load_default=None, validate=CODE)


class QrOut(Schema):
    content_type = fields.String()
    content_base64 = fields.String()
    url = fields.String()


# -- follow-ups and cards (SCO-1, SCO-2) -----------------------------------------------------

class ActionBody(StrictInput):
    note = Text(load_default="", validate=validate.Length(max=2000))


class FollowupOut(Schema):
    id = fields.Integer()
    rating_id = fields.Integer()
    subject_code = fields.String()
    subject_kind = fields.String()
    department = fields.String()
    status = fields.String()
    opened_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    escalation_level = fields.Integer()
    cleared = fields.Boolean()
    clearing_note = fields.String(allow_none=True)
    history = fields.List(fields.Nested(HistoryEntry))


class FollowupQuery(StrictInput):
    status = Text(load_default=None, validate=validate.OneOf(domain.FOLLOWUP_STATUSES))


class CardCreate(StrictInput):
    colour = Text(required=True, validate=validate.OneOf(domain.COLOURS))
    subject_code = Text(required=True, validate=CODE)
    reason = Text(required=True, validate=validate.Length(1, 2000))


class CardOut(Schema):
    id = fields.Integer()
    colour = fields.String()
    subject_code = fields.String()
    subject_kind = fields.String()
    department = fields.String()
    reason = fields.String()
    status = fields.String()
    finding = fields.String(allow_none=True)
    revoked_reason = fields.String(allow_none=True)
    issued_by = fields.String()
    issued_at = fields.AwareDateTime()
    history = fields.List(fields.Nested(HistoryEntry))


# -- SCO-3 rankings ----------------------------------------------------------------------

class RankingCompute(StrictInput):
    kind = Text(required=True, validate=validate.OneOf(list(domain.RANKING_KINDS)))
    period = Text(required=True, validate=PERIOD)


class RankingPublish(RankingCompute):
    replaces = fields.Integer(load_default=None, strict=True,
                              validate=validate.Range(1, MAX_ID))
    reason = Text(load_default=None, validate=validate.Length(1, 2000))


class RankRow(Schema):
    subject_code = fields.String()
    ratings = fields.Integer()
    total = fields.Integer()
    mean = fields.Float(allow_none=True)
    place = fields.Integer()
    stars = fields.Integer()


class RankingOut(Schema):
    id = fields.Integer(allow_none=True)
    kind = fields.String()
    period = fields.String()
    version = fields.Integer(allow_none=True)
    replaces = fields.Integer(allow_none=True)
    correction_reason = fields.String(allow_none=True)
    formula = fields.String()
    tie_break = fields.String()
    min_ratings = fields.Integer()
    digest = fields.String()
    ranked = fields.List(fields.Nested(RankRow))
    unranked = fields.List(fields.Nested(RankRow))
    best = fields.List(fields.String())
    worst = fields.List(fields.String())
    last_place = fields.String(allow_none=True)
    published_by = fields.String(allow_none=True)
    published_at = fields.AwareDateTime(allow_none=True)


class VerifyOut(Schema):
    ranking_id = fields.Integer()
    matches = fields.Boolean()
    published_digest = fields.String()
    recomputed_digest = fields.String()
    result_matches = fields.Boolean()


# -- SCO-4 the quarterly sample ----------------------------------------------------------------

class SampleCreate(StrictInput):
    quarter = Text(required=True, validate=QUARTER)
    size = Score(required=True, validate=validate.Range(1, 200))


class SampledChief(Schema):
    subject_code = fields.String()
    name = fields.String()
    department = fields.String()
    rating_url = fields.String()
    ratings = fields.Integer()
    mean = fields.Float(allow_none=True)
    outcome = fields.String(allow_none=True)


class SampleOut(Schema):
    id = fields.Integer()
    quarter = fields.String()
    size = fields.Integer()
    seed = fields.String()
    seeded_at = fields.AwareDateTime()
    drawn_at = fields.AwareDateTime(allow_none=True)
    drawn_by = fields.String()
    population = fields.List(fields.String())
    chosen = fields.List(fields.String())
    replay_matches = fields.Boolean()
    thresholds = fields.Dict()
    min_ratings = fields.Integer()
    results = fields.List(fields.Nested(SampledChief))


# -- SCO-5 indicator owners ------------------------------------------------------------------

class QuarterQuery(StrictInput):
    quarter = Text(required=True, validate=QUARTER)


class Evidence(StrictInput):
    name = Text(required=True, validate=validate.Length(1, 200))
    url = fields.Url(required=True, schemes={"http", "https"})


class IndicatorSubmit(StrictInput):
    value = Text(required=True, validate=validate.Length(1, 200))
    evidence = fields.List(fields.Nested(Evidence), required=True,
                           validate=validate.Length(1, 20))
    note = Text(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class IndicatorRow(Schema):
    code = fields.String()
    name = fields.String()
    parent = fields.String()
    parent_name = fields.String()
    owner = fields.String()
    submitted = fields.Boolean()
    value = fields.String(allow_none=True)
    evidence = fields.List(fields.Dict())
    submitted_at = fields.AwareDateTime(allow_none=True)


class IndicatorStatus(Schema):
    period = fields.String()
    deadline = fields.AwareDateTime()
    indicators = fields.List(fields.Nested(IndicatorRow))
    missing = fields.List(fields.String())


class TalkQuery(StrictInput):
    previous = fields.Integer(required=True, validate=validate.Range(1, MAX_ID))


class TalksOut(Schema):
    session_id = fields.Integer()
    previous = fields.Integer()
    bottom_group = fields.Integer()
    flagged = fields.List(fields.String())


# -- SCO-6 live session ---------------------------------------------------------------------

class SessionCreate(StrictInput):
    title = Text(required=True, validate=validate.Length(1, 200))
    departments = fields.List(Text(validate=CODE), required=True,
                              validate=validate.Length(1, 100))


class SessionScoreIn(StrictInput):
    department = Text(required=True, validate=CODE)
    score = Score(required=True, validate=validate.Range(1, 100))


class BoardRow(Schema):
    department = fields.String()
    scores = fields.Integer()
    mean = fields.Float()
    place = fields.Integer()


class BoardOut(Schema):
    session_id = fields.Integer()
    title = fields.String()
    status = fields.String()
    revision = fields.Integer()
    departments = fields.List(fields.String())
    board = fields.List(fields.Nested(BoardRow))


# -- SCO-7 work scores and the monthly notice ------------------------------------------------

class MonthQuery(StrictInput):
    month = Text(required=True, validate=MONTH)


class WorkScore(Schema):
    department = fields.String()
    composite = fields.Float()
    replied = fields.Integer()
    replied_on_time = fields.Integer()
    overdue = fields.Integer()
    rated = fields.Integer()
    rating_total = fields.Integer()
    quiet_day_violations = fields.Integer()
    cap_violations = fields.Integer()
    late_filings = fields.Integer()


class NoticeOut(Schema):
    """通报: the month's red and black lists, rankings and cards."""
    month = fields.String()
    weights = fields.Dict()
    scores = fields.List(fields.Nested(WorkScore))
    red = fields.List(fields.String())
    black = fields.List(fields.String())
    rankings = fields.List(fields.Nested(RankingOut))
    cards = fields.List(fields.Nested(CardOut))


class FileOut(Schema):
    filename = fields.String()
    content_type = fields.String()
    content_base64 = fields.String()
