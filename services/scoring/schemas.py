"""The published contract of the scoring service (评价): every RPC argument and
return value. The gateway validates its scoring routes with these schemas, so
what a client sends is checked once, by the owner's own definition."""
import datetime as dt

from marshmallow import fields, validate

from kernel import fields as kernel_fields
from kernel.fields import MAX_ID, Answer, HistoryEntry, StrictInteger, doc
from kernel.schemas import StrictInput, dump, load  # noqa: F401 (services call schemas.load)
from kernel.validators import CreditCode

from . import domain

CODE = validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$",
                       error="must be a code of letters, digits, '_', '.' or '-'")
QUARTER = validate.Regexp(r"^\d{4}-Q[1-4]$", error="a quarter like 2026-Q4")
MONTH = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="a month like 2026-11")
PERIOD = validate.Regexp(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$",
                         error="a month 2026-11, a quarter 2026-Q4 or a year 2026")


class Text(kernel_fields.Text):
    """The kernel's text (no NUL characters); here a required one is never blank."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("not_blank", kwargs.get("required", False))
        super().__init__(*args, **kwargs)


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


class RatingOut(Answer):
    id: int
    subject_code: str
    subject_kind: str
    department: str = doc("the department the subject belongs to")
    enterprise_code: str
    service_event: str = doc("the service event rated (its ticket, appeal:<id> for an appeal)")
    source: str = doc(
        "where the rating came from: qr (the rating form), appeal, inspection or session")
    score: int = doc("1 very dissatisfied … 5 very satisfied")
    comment: str | None
    period: str = doc("the month the rating counts in, YYYY-MM (Asia/Shanghai date)")
    rated_at: dt.datetime = doc("when it was rated (ISO 8601)")
    followup_id: int | None = doc("the follow-up a bad rating opened (差评必纠); null for 3–5")


class SubjectOut(Answer):
    code: str = doc("the subject's code, as rated")
    kind: str = doc("window, clerk, department, town, section_chief or official")
    name: str = doc("the subject's name: a window, unit or post (审批一股股长), never a person's")
    department: str = doc("the department the subject belongs to")
    rating_url: str = doc("the address its QR code opens: the rating form")


class SubjectQuery(StrictInput):
    kind = Text(load_default=None, validate=validate.OneOf(domain.SUBJECT_KINDS), metadata=doc(
        "only subjects of this kind", example="window"))
    department = Text(load_default=None, validate=CODE, metadata=doc(
        "only subjects of this department", example="approval"))


class QrOut(Answer):
    content_type: str = doc("the image's media type")
    content_base64: str = doc("the image's bytes, base64")
    url: str = doc("the address the QR code holds")


# -- follow-ups and cards (SCO-1, SCO-2) -----------------------------------------------------

class ActionBody(StrictInput):
    note = Text(load_default="", validate=validate.Length(max=2000), metadata=doc(
        "the step's note, kept in the history: a card's finding or revocation reason, a "
        "follow-up's closing or clearing note", example="已核实并整改"))


class FollowupOut(Answer):
    id: int
    rating_id: int = doc("the bad rating it follows up")
    subject_code: str
    subject_kind: str
    department: str = doc("the subject's department, which follows it up")
    status: str = doc("open, verified, rectified, closed or groundless")
    opened_at: dt.datetime = doc("when the bad rating opened it")
    due_at: dt.datetime = doc("the deadline, in working days from opening (ISO 8601)")
    closed_at: dt.datetime | None = doc("when it was closed or found groundless; null before")
    escalation_level: int = doc(
        "escalation steps taken when overdue: 0 none, 1 supervision, 2 talk, 3 notice")
    cleared: bool = doc("true: found groundless and the person's name cleared in public (澄清正名)")
    clearing_note: str | None = doc("the task force's note clearing the name; null unless cleared")
    history: list[HistoryEntry]


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


class CardOut(Answer):
    id: int
    colour: str = doc("yellow or red card (黄牌/红牌)")
    subject_code: str
    subject_kind: str
    department: str = doc("the department the subject belongs to")
    reason: str = doc("the failure of duty the card is for")
    status: str = doc("investigating, found or revoked")
    finding: str | None = doc("what the investigation found; null until found")
    revoked_reason: str | None = doc("why the card was revoked; null unless revoked")
    issued_by: str = doc("who gave it (role:subject)")
    issued_at: dt.datetime = doc("when it was given (ISO 8601)")
    history: list[HistoryEntry]


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


class RankRow(Answer):
    subject_code: str = doc("the subject's code")
    ratings: int = doc("how many ratings it had in the period")
    total: int = doc("the sum of those ratings' scores")
    mean: float | None = doc("total / ratings, the score ranked by; null without ratings")
    place: int = doc("its place, 1 the best")
    stars: int = doc("1–5 stars, the mean rounded half up (clerks_monthly, 星级)")


class RankingOut(Answer):
    id: int | None = doc("the published ranking's number; null for a preview (GET …/current)")
    kind: str = doc(
        "windows_monthly, clerks_monthly, units_quarterly, windows_quarterly or units_yearly")
    period: str = doc("a month 2026-11, a quarter 2026-Q4 or a year 2026")
    version: int | None = doc("1 for the first publication, +1 per correction; null for a preview")
    replaces: int | None = doc("the id of the ranking this version corrects; null for the first")
    correction_reason: str | None = doc(
        "why the previous version was corrected; null for the first")
    formula: str = doc("how the score is computed, in words")
    tie_break: str = doc("how equal scores are ordered, in words")
    min_ratings: int = doc("fewest ratings in the period to be ranked")
    digest: str = doc("SHA-256 of the per-subject tallies: anyone can recompute it (GET …/verify)")
    ranked: list[RankRow] = doc("subjects with enough ratings, best first")
    unranked: list[RankRow] = doc("subjects with too few ratings: never best, worst or last")
    best: list[str] = doc("the five best (五佳), subject codes")
    worst: list[str] = doc("the three worst (三差), subject codes")
    last_place: str | None = doc(
        "windows_quarterly: the last place, rotated out (末位淘汰轮岗); else null")
    published_by: str | None = doc("who published it (role:subject); null for a preview")
    published_at: dt.datetime | None = doc("when it was published; null for a preview")


class VerifyOut(Answer):
    ranking_id: int = doc("the ranking verified")
    matches: bool = doc("true: the recomputed digest equals the published one")
    published_digest: str = doc("the digest published with the ranking")
    recomputed_digest: str = doc("the digest recounted now from the raw ratings")
    result_matches: bool = doc(
        "true: the recounted places, best and worst equal the published ones")


# -- SCO-4 the quarterly sample ----------------------------------------------------------------

class SampleCreate(StrictInput):
    quarter = Text(required=True, validate=QUARTER, metadata=doc(
        "the quarter sampled, YYYY-Qn", example="2026-Q4"))
    size = Score(required=True, validate=validate.Range(1, 200), metadata=doc(
        "how many section chiefs to draw (1–200)", example=8))


class SampledChief(Answer):
    subject_code: str = doc("the section chief's subject code")
    name: str = doc("the chief's post (审批一股股长), not a person's name")
    department: str = doc("the chief's unit")
    rating_url: str = doc("the address the chief's QR code opens: the rating form")
    ratings: int = doc("ratings in the quarter")
    mean: float | None = doc("the quarter's mean score; null without ratings")
    outcome: str | None = doc(
        "commend, promote, remind, adjust or report (评优/晋级/约谈/调整/通报); null with too few ratings")


class SampleOut(Answer):
    id: int
    quarter: str = doc("the quarter sampled, YYYY-Qn")
    size: int = doc("how many were drawn")
    seed: str
    seeded_at: dt.datetime
    drawn_at: dt.datetime | None = doc("when the population was read and the choice made")
    drawn_by: str = doc("who asked for the draw (role:subject)")
    population: list[str] = doc(
        "the section chiefs' codes drawn from (service, enforcement, resource units)")
    chosen: list[str] = doc("the codes chosen: smallest SHA-256(seed:code)")
    replay_matches: bool = doc("true: drawing again from seed and population gives the same choice")
    thresholds: dict = doc("outcome → the least mean score for it")
    min_ratings: int = doc("fewest ratings in the quarter for an outcome")
    results: list[SampledChief] = doc("each chosen chief with the quarter's ratings and outcome")


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


class IndicatorRow(Answer):
    code: str = doc("the second-level indicator's code")
    name: str = doc("the indicator's name")
    parent: str = doc("its first-level indicator's code")
    parent_name: str = doc("its first-level indicator's name")
    owner: str = doc("the owner unit's department code (指标责任单位)")
    submitted: bool = doc("true: the owner has reported this quarter")
    value: str | None = doc("the value reported; null before")
    evidence: list[dict] = doc("the evidence files reported, each with name and url")
    submitted_at: dt.datetime | None = doc("when it was last reported; null before")


class IndicatorStatus(Answer):
    period: str = doc("the quarter, YYYY-Qn")
    deadline: dt.datetime = doc("the last moment to report: working days after the quarter ends")
    indicators: list[IndicatorRow] = doc("all second-level indicators with their reports")
    missing: list[str] = doc("codes of the indicators not reported yet")


class TalkQuery(StrictInput):
    previous = fields.Integer(required=True, validate=validate.Range(1, MAX_ID), metadata=doc(
        "the previous report session's number, compared with this one", example=1))


class TalksOut(Answer):
    session_id: int = doc("this report session")
    previous: int = doc("the previous report session")
    bottom_group: int = doc("how many last places count as low in each session")
    flagged: list[str] = doc(
        "department codes low in both sessions: heads called in for a talk (约谈)")


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


class BoardRow(Answer):
    department: str = doc("the department's code")
    scores: int = doc("how many scores it has")
    mean: float = doc("its mean score, 1–100")
    place: int = doc("its place, 1 the best")


class BoardOut(Answer):
    session_id: int
    title: str = doc("the session's title")
    status: str = doc("open or closed")
    revision: int = doc("changes whenever the board changes (the stream sends a new board then)")
    departments: list[str] = doc("the department codes that report")
    board: list[BoardRow] = doc("the departments by mean, then count, then code")


# -- SCO-7 work scores and the monthly notice ------------------------------------------------

class MonthQuery(StrictInput):
    month = Text(required=True, validate=MONTH, metadata=doc(
        "the month, YYYY-MM", example="2026-11"))


class WorkScore(Answer):
    department: str = doc("the department's code")
    composite: float = doc("the weighted score of the month (SCO-7): higher is better")
    replied: int = doc("appeals replied to")
    replied_on_time: int = doc("of those, replied by the deadline")
    overdue: int = doc("appeals escalated to supervision (overdue)")
    rated: int = doc("appeal ratings received")
    rating_total: int = doc("the sum of those ratings' scores")
    quiet_day_violations: int = doc("visits on a quiet day (INS-2)")
    cap_violations: int = doc("visits over the yearly cap (INS-3)")
    late_filings: int = doc("emergency visits filed late or not at all")


class NoticeOut(Answer):
    """通报: the month's red and black lists, rankings and cards."""
    month: str = doc("the month, YYYY-MM")
    weights: dict = doc("the composite's weights by measure (points per unit)")
    scores: list[WorkScore] = doc("each department's work score, best first")
    red: list[str] = doc("the red list (红榜): best departments' codes")
    black: list[str] = doc("the black list (黑榜): worst departments' codes")
    rankings: list[RankingOut] = doc("the month's latest published rankings")
    cards: list[CardOut] = doc("the cards given in the month")


class FileOut(Answer):
    filename: str = doc("the file's name")
    content_type: str = doc("the file's media type")
    content_base64: str = doc("the file's bytes, base64")
