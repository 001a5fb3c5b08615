"""The published contract of the scoring service (评价): every RPC argument and
return value. The gateway validates its scoring routes with these schemas, so
what a client sends is checked once, by the owner's own definition."""
from marshmallow import Schema, ValidationError, fields, validate

from kernel.fields import HistoryEntry, StrictInteger, doc
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


Score = StrictInteger  # a JSON number, never ``true`` or ``"5"`` (kernel.fields)


# -- SCO-1 ratings ------------------------------------------------------------------------

class RatingCreate(StrictInput):
    """An enterprise rates a subject for one service event (its ticket, the
    appeal or the visit): once per enterprise, subject and event."""
    subject_code = Text(required=True, validate=CODE, metadata=doc(
        "the rated subject's code (see GET /api/v1/subjects)", example="win_approval_1"))
    service_event = Text(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_.:-]{1,64}$", error="a ticket number of 1 to 64 letters, digits, '_.:-'"),
        metadata=doc("the service event rated: its ticket number; one rating per enterprise, "
                     "subject and event", example="T20261102-0042"))
    score = Score(required=True, validate=validate.Range(1, 5), metadata=doc(
        "1 very dissatisfied … 5 very satisfied (非常不满意 … 非常满意); 1–2 is a bad rating "
        "(差评) and opens a follow-up", example=5))
    comment = Text(load_default=None, allow_none=True, validate=validate.Length(max=1000),
                   metadata=doc("what the enterprise says about the service, optional",
                                example="办理很快，态度很好"))
    enterprise_code = CreditCode(load_default=None)  # set from the caller's token


class RatingQuery(StrictInput):
    subject_code = Text(load_default=None, validate=CODE, metadata=doc(
        "only this subject's ratings", example="win_approval_1"))
    period = Text(load_default=None, validate=MONTH, metadata=doc(
        "only ratings counted in this month, YYYY-MM (Asia/Shanghai date)", example="2026-11"))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class RatingOut(Schema):
    id = fields.Integer()
    subject_code = fields.String()
    subject_kind = fields.String()
    department = fields.String(metadata=doc("the department the subject belongs to"))
    enterprise_code = fields.String()
    service_event = fields.String(metadata=doc(
        "the service event rated (its ticket, appeal:<id> for an appeal)"))
    source = fields.String(metadata=doc(
        "where the rating came from: qr (the rating form), appeal, inspection or session"))
    score = fields.Integer(metadata=doc("1 very dissatisfied … 5 very satisfied"))
    comment = fields.String(allow_none=True)
    period = fields.String(metadata=doc(
        "the month the rating counts in, YYYY-MM (Asia/Shanghai date)"))
    rated_at = fields.AwareDateTime(metadata=doc("when it was rated (ISO 8601)"))
    followup_id = fields.Integer(allow_none=True, metadata=doc(
        "the follow-up a bad rating opened (差评必纠); null for 3–5"))


class SubjectOut(Schema):
    code = fields.String(metadata=doc("the subject's code, as rated"))
    kind = fields.String(metadata=doc("window, clerk, department, town, section_chief or official"))
    name = fields.String(metadata=doc(
        "the subject's name: a window, unit or post (审批一股股长), never a person's"))
    department = fields.String(metadata=doc("the department the subject belongs to"))
    rating_url = fields.String(metadata=doc("the address its QR code opens: the rating form"))


class SubjectQuery(StrictInput):
    kind = Text(load_default=None, validate=validate.OneOf(domain.SUBJECT_KINDS), metadata=doc(
        "only subjects of this kind", example="window"))
    department = Text(load_default=None, validate=CODE, metadata=doc(
        "only subjects of this department", example="approval"))


class QrOut(Schema):
    content_type = fields.String(metadata=doc("the image's media type"))
    content_base64 = fields.String(metadata=doc("the image's bytes, base64"))
    url = fields.String(metadata=doc("the address the QR code holds"))


# -- follow-ups and cards (SCO-1, SCO-2) -----------------------------------------------------

class ActionBody(StrictInput):
    note = Text(load_default="", validate=validate.Length(max=2000), metadata=doc(
        "the step's note, kept in the history: a card's finding or revocation reason, a "
        "follow-up's closing or clearing note", example="已核实并整改"))


class FollowupOut(Schema):
    id = fields.Integer()
    rating_id = fields.Integer(metadata=doc("the bad rating it follows up"))
    subject_code = fields.String()
    subject_kind = fields.String()
    department = fields.String(metadata=doc("the subject's department, which follows it up"))
    status = fields.String(metadata=doc("open, verified, rectified, closed or groundless"))
    opened_at = fields.AwareDateTime(metadata=doc("when the bad rating opened it"))
    due_at = fields.AwareDateTime(metadata=doc(
        "the deadline, in working days from opening (ISO 8601)"))
    closed_at = fields.AwareDateTime(allow_none=True, metadata=doc(
        "when it was closed or found groundless; null before"))
    escalation_level = fields.Integer(metadata=doc(
        "escalation steps taken when overdue: 0 none, 1 supervision, 2 talk, 3 notice"))
    cleared = fields.Boolean(metadata=doc(
        "true: found groundless and the person's name cleared in public (澄清正名)"))
    clearing_note = fields.String(allow_none=True, metadata=doc(
        "the task force's note clearing the name; null unless cleared"))
    history = fields.List(fields.Nested(HistoryEntry))


class FollowupQuery(StrictInput):
    status = Text(load_default=None, validate=validate.OneOf(domain.FOLLOWUP_STATUSES),
                  metadata=doc("only follow-ups in this status: open, verified, rectified, "
                               "closed or groundless", example="open"))


class CardCreate(StrictInput):
    colour = Text(required=True, validate=validate.OneOf(domain.COLOURS), metadata=doc(
        "yellow or red card (黄牌/红牌)", example="yellow"))
    subject_code = Text(required=True, validate=CODE, metadata=doc(
        "the subject carded (a window, clerk post, official …)", example="win_approval_1"))
    reason = Text(required=True, validate=validate.Length(1, 2000), metadata=doc(
        "the failure of duty the card is for", example="窗口人员无故离岗，企业等候超过30分钟"))


class CardOut(Schema):
    id = fields.Integer()
    colour = fields.String(metadata=doc("yellow or red card (黄牌/红牌)"))
    subject_code = fields.String()
    subject_kind = fields.String()
    department = fields.String(metadata=doc("the department the subject belongs to"))
    reason = fields.String(metadata=doc("the failure of duty the card is for"))
    status = fields.String(metadata=doc("investigating, found or revoked"))
    finding = fields.String(allow_none=True, metadata=doc(
        "what the investigation found; null until found"))
    revoked_reason = fields.String(allow_none=True, metadata=doc(
        "why the card was revoked; null unless revoked"))
    issued_by = fields.String(metadata=doc("who gave it (role:subject)"))
    issued_at = fields.AwareDateTime(metadata=doc("when it was given (ISO 8601)"))
    history = fields.List(fields.Nested(HistoryEntry))


# -- SCO-3 rankings ----------------------------------------------------------------------

class RankingCompute(StrictInput):
    kind = Text(required=True, validate=validate.OneOf(list(domain.RANKING_KINDS)), metadata=doc(
        "windows_monthly, clerks_monthly, units_quarterly, windows_quarterly or units_yearly",
        example="windows_monthly"))
    period = Text(required=True, validate=PERIOD, metadata=doc(
        "the ranking's period: a month 2026-11, a quarter 2026-Q4 or a year 2026, as its kind "
        "needs", example="2026-11"))


class RankingPublish(RankingCompute):
    replaces = fields.Integer(load_default=None, strict=True,
                              validate=validate.Range(1, MAX_ID),
                              metadata=doc("to correct a published ranking: the latest "
                                           "version's id; null for the first"))
    reason = Text(load_default=None, validate=validate.Length(1, 2000), metadata=doc(
        "why a published ranking is corrected; required with replaces"))


class RankRow(Schema):
    subject_code = fields.String(metadata=doc("the subject's code"))
    ratings = fields.Integer(metadata=doc("how many ratings it had in the period"))
    total = fields.Integer(metadata=doc("the sum of those ratings' scores"))
    mean = fields.Float(allow_none=True, metadata=doc(
        "total / ratings, the score ranked by; null without ratings"))
    place = fields.Integer(metadata=doc("its place, 1 the best"))
    stars = fields.Integer(metadata=doc("1–5 stars, the mean rounded half up (clerks_monthly, 星级)"))


class RankingOut(Schema):
    id = fields.Integer(allow_none=True, metadata=doc(
        "the published ranking's number; null for a preview (GET …/current)"))
    kind = fields.String(metadata=doc(
        "windows_monthly, clerks_monthly, units_quarterly, windows_quarterly or units_yearly"))
    period = fields.String(metadata=doc("a month 2026-11, a quarter 2026-Q4 or a year 2026"))
    version = fields.Integer(allow_none=True, metadata=doc(
        "1 for the first publication, +1 per correction; null for a preview"))
    replaces = fields.Integer(allow_none=True, metadata=doc(
        "the id of the ranking this version corrects; null for the first"))
    correction_reason = fields.String(allow_none=True, metadata=doc(
        "why the previous version was corrected; null for the first"))
    formula = fields.String(metadata=doc("how the score is computed, in words"))
    tie_break = fields.String(metadata=doc("how equal scores are ordered, in words"))
    min_ratings = fields.Integer(metadata=doc("fewest ratings in the period to be ranked"))
    digest = fields.String(metadata=doc(
        "SHA-256 of the per-subject tallies: anyone can recompute it (GET …/verify)"))
    ranked = fields.List(fields.Nested(RankRow), metadata=doc(
        "subjects with enough ratings, best first"))
    unranked = fields.List(fields.Nested(RankRow), metadata=doc(
        "subjects with too few ratings: never best, worst or last"))
    best = fields.List(fields.String(), metadata=doc("the five best (五佳), subject codes"))
    worst = fields.List(fields.String(), metadata=doc("the three worst (三差), subject codes"))
    last_place = fields.String(allow_none=True, metadata=doc(
        "windows_quarterly: the last place, rotated out (末位淘汰轮岗); else null"))
    published_by = fields.String(allow_none=True, metadata=doc(
        "who published it (role:subject); null for a preview"))
    published_at = fields.AwareDateTime(allow_none=True, metadata=doc(
        "when it was published; null for a preview"))


class VerifyOut(Schema):
    ranking_id = fields.Integer(metadata=doc("the ranking verified"))
    matches = fields.Boolean(metadata=doc("true: the recomputed digest equals the published one"))
    published_digest = fields.String(metadata=doc("the digest published with the ranking"))
    recomputed_digest = fields.String(metadata=doc("the digest recounted now from the raw ratings"))
    result_matches = fields.Boolean(metadata=doc(
        "true: the recounted places, best and worst equal the published ones"))


# -- SCO-4 the quarterly sample ----------------------------------------------------------------

class SampleCreate(StrictInput):
    quarter = Text(required=True, validate=QUARTER, metadata=doc(
        "the quarter sampled, YYYY-Qn", example="2026-Q4"))
    size = Score(required=True, validate=validate.Range(1, 200), metadata=doc(
        "how many section chiefs to draw (1–200)", example=8))


class SampledChief(Schema):
    subject_code = fields.String(metadata=doc("the section chief's subject code"))
    name = fields.String(metadata=doc("the chief's post (审批一股股长), not a person's name"))
    department = fields.String(metadata=doc("the chief's unit"))
    rating_url = fields.String(metadata=doc(
        "the address the chief's QR code opens: the rating form"))
    ratings = fields.Integer(metadata=doc("ratings in the quarter"))
    mean = fields.Float(allow_none=True, metadata=doc(
        "the quarter's mean score; null without ratings"))
    outcome = fields.String(allow_none=True, metadata=doc(
        "commend, promote, remind, adjust or report (评优/晋级/约谈/调整/通报); null with too few ratings"))


class SampleOut(Schema):
    id = fields.Integer()
    quarter = fields.String(metadata=doc("the quarter sampled, YYYY-Qn"))
    size = fields.Integer(metadata=doc("how many were drawn"))
    seed = fields.String()
    seeded_at = fields.AwareDateTime()
    drawn_at = fields.AwareDateTime(allow_none=True, metadata=doc(
        "when the population was read and the choice made"))
    drawn_by = fields.String(metadata=doc("who asked for the draw (role:subject)"))
    population = fields.List(fields.String(), metadata=doc(
        "the section chiefs' codes drawn from (service, enforcement, resource units)"))
    chosen = fields.List(fields.String(), metadata=doc(
        "the codes chosen: smallest SHA-256(seed:code)"))
    replay_matches = fields.Boolean(metadata=doc(
        "true: drawing again from seed and population gives the same choice"))
    thresholds = fields.Dict(metadata=doc("outcome → the least mean score for it"))
    min_ratings = fields.Integer(metadata=doc("fewest ratings in the quarter for an outcome"))
    results = fields.List(fields.Nested(SampledChief), metadata=doc(
        "each chosen chief with the quarter's ratings and outcome"))


# -- SCO-5 indicator owners ------------------------------------------------------------------

class QuarterQuery(StrictInput):
    quarter = Text(required=True, validate=QUARTER, metadata=doc(
        "the quarter, YYYY-Qn", example="2026-Q4"))


class Evidence(StrictInput):
    name = Text(required=True, validate=validate.Length(1, 200), metadata=doc(
        "the evidence file's name", example="营商环境指标佐证材料.pdf"))
    url = fields.Url(required=True, schemes={"http", "https"},
                     metadata=doc("where the file is (an http or https address)"))


class IndicatorSubmit(StrictInput):
    value = Text(required=True, validate=validate.Length(1, 200), metadata=doc(
        "the indicator's value for the quarter, as reported", example="4.5个工作日"))
    evidence = fields.List(fields.Nested(Evidence), required=True,
                           validate=validate.Length(1, 20),
                           metadata=doc("at least one file proving it (1–20)"))
    note = Text(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                metadata=doc("the owner's note, optional", example="较上季度压缩1个工作日"))


class IndicatorRow(Schema):
    code = fields.String(metadata=doc("the second-level indicator's code"))
    name = fields.String(metadata=doc("the indicator's name"))
    parent = fields.String(metadata=doc("its first-level indicator's code"))
    parent_name = fields.String(metadata=doc("its first-level indicator's name"))
    owner = fields.String(metadata=doc("the owner unit's department code (指标责任单位)"))
    submitted = fields.Boolean(metadata=doc("true: the owner has reported this quarter"))
    value = fields.String(allow_none=True, metadata=doc("the value reported; null before"))
    evidence = fields.List(fields.Dict(), metadata=doc(
        "the evidence files reported, each with name and url"))
    submitted_at = fields.AwareDateTime(allow_none=True, metadata=doc(
        "when it was last reported; null before"))


class IndicatorStatus(Schema):
    period = fields.String(metadata=doc("the quarter, YYYY-Qn"))
    deadline = fields.AwareDateTime(metadata=doc(
        "the last moment to report: working days after the quarter ends"))
    indicators = fields.List(fields.Nested(IndicatorRow), metadata=doc(
        "all second-level indicators with their reports"))
    missing = fields.List(fields.String(), metadata=doc("codes of the indicators not reported yet"))


class TalkQuery(StrictInput):
    previous = fields.Integer(required=True, validate=validate.Range(1, MAX_ID), metadata=doc(
        "the previous report session's number, compared with this one", example=1))


class TalksOut(Schema):
    session_id = fields.Integer(metadata=doc("this report session"))
    previous = fields.Integer(metadata=doc("the previous report session"))
    bottom_group = fields.Integer(metadata=doc("how many last places count as low in each session"))
    flagged = fields.List(fields.String(), metadata=doc(
        "department codes low in both sessions: heads called in for a talk (约谈)"))


# -- SCO-6 live session ---------------------------------------------------------------------

class SessionCreate(StrictInput):
    title = Text(required=True, validate=validate.Length(1, 200), metadata=doc(
        "the session's title", example="2026年第二次指标责任人述职评议"))
    departments = fields.List(Text(validate=CODE), required=True,
                              validate=validate.Length(1, 100),
                              metadata=doc("the department codes that report and are scored",
                                           example=["approval", "market"]))


class SessionScoreIn(StrictInput):
    department = Text(required=True, validate=CODE, metadata=doc(
        "the department scored", example="approval"))
    score = Score(required=True, validate=validate.Range(1, 100), metadata=doc(
        "the enterprise's score for it, 1–100; once per department", example=90))


class BoardRow(Schema):
    department = fields.String(metadata=doc("the department's code"))
    scores = fields.Integer(metadata=doc("how many scores it has"))
    mean = fields.Float(metadata=doc("its mean score, 1–100"))
    place = fields.Integer(metadata=doc("its place, 1 the best"))


class BoardOut(Schema):
    session_id = fields.Integer()
    title = fields.String(metadata=doc("the session's title"))
    status = fields.String(metadata=doc("open or closed"))
    revision = fields.Integer(metadata=doc(
        "changes whenever the board changes (the stream sends a new board then)"))
    departments = fields.List(fields.String(), metadata=doc("the department codes that report"))
    board = fields.List(fields.Nested(BoardRow), metadata=doc(
        "the departments by mean, then count, then code"))


# -- SCO-7 work scores and the monthly notice ------------------------------------------------

class MonthQuery(StrictInput):
    month = Text(required=True, validate=MONTH, metadata=doc(
        "the month, YYYY-MM", example="2026-11"))


class WorkScore(Schema):
    department = fields.String(metadata=doc("the department's code"))
    composite = fields.Float(metadata=doc(
        "the weighted score of the month (SCO-7): higher is better"))
    replied = fields.Integer(metadata=doc("appeals replied to"))
    replied_on_time = fields.Integer(metadata=doc("of those, replied by the deadline"))
    overdue = fields.Integer(metadata=doc("appeals escalated to supervision (overdue)"))
    rated = fields.Integer(metadata=doc("appeal ratings received"))
    rating_total = fields.Integer(metadata=doc("the sum of those ratings' scores"))
    quiet_day_violations = fields.Integer(metadata=doc("visits on a quiet day (INS-2)"))
    cap_violations = fields.Integer(metadata=doc("visits over the yearly cap (INS-3)"))
    late_filings = fields.Integer(metadata=doc("emergency visits filed late or not at all"))


class NoticeOut(Schema):
    """通报: the month's red and black lists, rankings and cards."""
    month = fields.String(metadata=doc("the month, YYYY-MM"))
    weights = fields.Dict(metadata=doc("the composite's weights by measure (points per unit)"))
    scores = fields.List(fields.Nested(WorkScore), metadata=doc(
        "each department's work score, best first"))
    red = fields.List(fields.String(), metadata=doc("the red list (红榜): best departments' codes"))
    black = fields.List(fields.String(), metadata=doc(
        "the black list (黑榜): worst departments' codes"))
    rankings = fields.List(fields.Nested(RankingOut), metadata=doc(
        "the month's latest published rankings"))
    cards = fields.List(fields.Nested(CardOut), metadata=doc("the cards given in the month"))


class FileOut(Schema):
    filename = fields.String(metadata=doc("the file's name"))
    content_type = fields.String(metadata=doc("the file's media type"))
    content_base64 = fields.String(metadata=doc("the file's bytes, base64"))
