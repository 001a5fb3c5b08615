"""The rules of scoring (评价, SCO-1 … SCO-7), with no I/O.

Ratings and who may see them, the follow-up of a bad rating (差评必纠) and the
card's investigation (有牌必查) as small state machines, the rankings computed
from per-subject totals (the service aggregates in SQL and hands the totals
here), the digest that freezes a published ranking, the live session's board
and the composite score of a department's own work.

Functions take plain values or any object with the attributes of the
matching model, change it, and return what happened (history entries and
events) for the service to store and publish.
"""
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from kernel.rpc import Caller
from kernel.statemachine import Effect, StateMachine, Transition, actor_of
from kernel.visibility import Visibility

# -- SCO-1 five levels ---------------------------------------------------------------

RATINGS = {5: "very_satisfied", 4: "satisfied", 3: "basically_satisfied",
           2: "dissatisfied", 1: "very_dissatisfied"}
SUBJECT_KINDS = ("window", "clerk", "department", "town", "section_chief", "official")
SOURCES = ("qr", "appeal", "inspection", "session")


def is_bad(score: int) -> bool:
    """1–2 is a bad rating (差评): each one is followed up."""
    return score <= 2


def period_of(instant: dt.datetime, calendar) -> str:
    """The month a rating counts in, by the county's (Shanghai) date: ``2026-11``."""
    return calendar.local_date(instant).strftime("%Y-%m")


def months_of(period: str) -> list:
    """``2026-11`` → itself; ``2026-Q4`` → its three months; ``2026`` → twelve."""
    try:
        if len(period) == 7 and period[4:6] == "-Q":
            year, q = int(period[:4]), int(period[6])
            if 1 <= q <= 4:
                return [f"{year:04d}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)]
        elif len(period) == 7 and period[4] == "-":
            year, month = int(period[:4]), int(period[5:])
            if 1 <= month <= 12:
                return [f"{year:04d}-{month:02d}"]
        elif len(period) == 4:
            year = int(period)
            return [f"{year:04d}-{m:02d}" for m in range(1, 13)]
    except ValueError:
        pass
    raise BadInput({"period": ["a month 2026-11, a quarter 2026-Q4 or a year 2026"]})


# -- GW-2: who sees a rating ----------------------------------------------------------

# An enterprise sees its own ratings, a department those of its own subjects,
# the task force all.
RATING_VISIBILITY = Visibility(
    "rating",
    enterprise=lambda rating, caller: rating.enterprise_code == caller.org,
    department=lambda rating, caller: rating.department == caller.org)
can_see_rating = RATING_VISIBILITY.can_see
check_rating_visible = RATING_VISIBILITY.check  # a 404, never revealing that another's exists


# -- the shape every aggregate follows (kernel.statemachine) -------------------------

_STAFF = frozenset({"taskforce", "admin"})


def _owner(name, thing, caller: Caller) -> bool:
    """"owner": the department the rated or carded subject belongs to."""
    return name == "owner" and caller.role == "department" and caller.org == thing.department


# -- SCO-1 差评必纠: the follow-up of a bad rating --------------------------------------

OPEN, VERIFIED, RECTIFIED, CLOSED, GROUNDLESS = "open", "verified", "rectified", "closed", "groundless"
FOLLOWUP_STATUSES = (OPEN, VERIFIED, RECTIFIED, CLOSED, GROUNDLESS)
FOLLOWUP_DONE = frozenset({CLOSED, GROUNDLESS})
FOLLOWUP_TRANSITIONS = {
    # the unit concerned checks the complaint (核实) …
    "verify": Transition(frozenset({OPEN}), _STAFF | {"owner"}, VERIFIED),
    # … puts it right (整改) …
    "rectify": Transition(frozenset({VERIFIED}), _STAFF | {"owner"}, RECTIFIED),
    # … and the task force closes it with a note.
    "close": Transition(frozenset({RECTIFIED}), _STAFF, CLOSED),
    # A groundless complaint (不实) is closed as such and the person's name is
    # cleared in public (澄清正名); the clearing is part of the record.
    "groundless": Transition(frozenset({OPEN, VERIFIED}), _STAFF, GROUNDLESS),
}
FOLLOWUP_ACTIONS = tuple(FOLLOWUP_TRANSITIONS)
FOLLOWUP = StateMachine("follow-up", initial={OPEN}, final=FOLLOWUP_DONE,
                        transitions=FOLLOWUP_TRANSITIONS)
# The overdue ladder in working days after the deadline, like appeals' (APP-5).
FOLLOWUP_LADDER = (("supervision", 0), ("talk", 3), ("notice", 5))


@dataclass(frozen=True)
class Policy:
    """Configuration of the rules (per county)."""
    followup_days: int = 5  # working days to close a bad rating's follow-up
    min_ratings: int = 10  # a subject with fewer ratings in the period is not ranked
    best: int = 5  # 五佳
    worst: int = 3  # 三差
    weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    red_list: int = 3  # 红榜: the best composite scores of the month
    black_list: int = 3  # 黑榜: the worst
    outcomes: dict = field(default_factory=lambda: dict(DEFAULT_OUTCOMES))
    sample_min_ratings: int = 5
    indicator_due_days: int = 10  # working days after the quarter to submit its values
    bottom_group: int = 3  # 末位: the last units of a report session


def open_followup(followup, rating, now, calendar, policy: Policy) -> Effect:
    """A bad rating opens its follow-up case with a working-day deadline."""
    followup.status = OPEN
    followup.opened_at = now
    followup.due_at = calendar.deadline(now, policy.followup_days)
    followup.escalation_level = 0
    followup.next_check_at = followup_check(followup, calendar)
    effect = Effect()
    effect.record("open", "system", None, OPEN, f"rating {rating.score} of {rating.subject_code}")
    return effect


def followup_check(followup, calendar):
    """When the sweep must next look at it; None once closed or at the top."""
    if followup.status in FOLLOWUP_DONE or followup.escalation_level >= len(FOLLOWUP_LADDER):
        return None
    return calendar.shift(followup.due_at, FOLLOWUP_LADDER[followup.escalation_level][1])


def act_on_followup(followup, action, note, caller: Caller, now, calendar) -> Effect:
    """One step of the follow-up, or a refusal that changes nothing."""
    if caller.role == "enterprise" or (caller.role == "department"
                                       and caller.org != followup.department
                                       and not caller.is_staff):
        raise NotFound("no such follow-up")
    target = FOLLOWUP.check(action, followup, caller, relation=_owner).target
    if target in FOLLOWUP_DONE and not (note or "").strip():
        raise BadInput({"note": ["closing a follow-up needs a note"]})
    before = followup.status
    followup.status = target
    if target == GROUNDLESS:
        followup.cleared = True
        followup.clearing_note = note  # 澄清正名: shown on the public record
    if target in FOLLOWUP_DONE:
        followup.closed_at = now
    followup.next_check_at = followup_check(followup, calendar)
    effect = Effect()
    effect.record(action, actor_of(caller), before, target, note)
    return effect


def followup_due_steps(followup, now, calendar) -> list:
    """The ladder levels (1-based) whose time has come and that are not yet taken."""
    levels = []
    if followup.status in FOLLOWUP_DONE:
        return levels
    for level in range(followup.escalation_level + 1, len(FOLLOWUP_LADDER) + 1):
        if calendar.shift(followup.due_at, FOLLOWUP_LADDER[level - 1][1]) <= now:
            levels.append(level)
    return levels


def escalate_followup(followup, levels, calendar) -> Effect:
    effect = Effect()
    for level in levels:
        step = FOLLOWUP_LADDER[level - 1][0]
        effect.record(f"escalate:{step}", "system", followup.status, followup.status)
        effect.emit("followup.overdue", level=level, step=step)
    followup.escalation_level = levels[-1]
    followup.next_check_at = followup_check(followup, calendar)
    return effect


# -- SCO-2 红黄牌: cards and their investigation ---------------------------------------

COLOURS = ("yellow", "red")
INVESTIGATING, FOUND, REVOKED = "investigating", "found", "revoked"
CARD_TRANSITIONS = {
    # every card is investigated (有牌必查) and the investigation ends in a finding
    "find": Transition(frozenset({INVESTIGATING}), _STAFF, FOUND),
    # a card can be revoked with a reason; the card and the reason stay in its history
    "revoke": Transition(frozenset({INVESTIGATING, FOUND}), _STAFF, REVOKED),
}
CARD_ACTIONS = tuple(CARD_TRANSITIONS)
CARD = StateMachine("card", initial={INVESTIGATING}, final={FOUND, REVOKED},
                    transitions=CARD_TRANSITIONS)


def issue_card(card, caller: Caller, now) -> Effect:
    if not caller.is_staff:
        raise Forbidden("only the task force gives cards")
    if not (card.reason or "").strip():
        raise BadInput({"reason": ["a card needs a reason"]})
    card.status = INVESTIGATING
    card.issued_by = actor_of(caller)
    card.issued_at = now
    effect = Effect()
    effect.record("issue", card.issued_by, None, INVESTIGATING, card.reason)
    effect.emit("card.issued")
    return effect


def act_on_card(card, action, note, caller: Caller, now) -> Effect:
    target = CARD.check(action, card, caller).target
    if not (note or "").strip():
        raise BadInput({"note": ["a finding or a reason is needed"]})
    before = card.status
    card.status = target
    if target == FOUND:
        card.finding = note
    else:
        card.revoked_reason = note
    card.updated_at = now
    effect = Effect()
    effect.record(action, actor_of(caller), before, target, note)
    return effect


# -- SCO-3 rankings ---------------------------------------------------------------------

@dataclass(frozen=True)
class RankingKind:
    subject_kinds: tuple
    granularity: str  # month | quarter | year
    best: bool = True  # 五佳三差
    stars: bool = False  # 星级 of window clerks
    last_place: bool = False  # 末位淘汰轮岗


RANKING_KINDS = {
    "windows_monthly": RankingKind(("window",), "month"),
    "clerks_monthly": RankingKind(("clerk",), "month", best=False, stars=True),
    "units_quarterly": RankingKind(("department", "town"), "quarter"),
    "windows_quarterly": RankingKind(("window",), "quarter", last_place=True),
    "units_yearly": RankingKind(("department", "town"), "year"),
}
FORMULA = ("mean score = sum of the 1–5 ratings / number of ratings in the period; "
           "ranked by mean score, higher first")
TIE_BREAK = ("equal mean scores: more ratings first, then subject code in ascending "
             "order (stable and visible, never random)")


def check_period(kind: RankingKind, period: str):
    months = months_of(period)
    expected = {"month": 1, "quarter": 3, "year": 12}[kind.granularity]
    if len(months) != expected:
        raise BadInput({"period": [f"this ranking is by {kind.granularity}"]})
    return months


def stars(mean: float) -> int:
    """五星级窗口人员: the mean rounded half up, 1 to 5 stars."""
    return max(1, min(5, int(mean + 0.5)))


def rank(kind: RankingKind, totals, policy: Policy) -> dict:
    """The ranking from per-subject totals ``[(code, n, total, id_sum, max_id)]``.

    Subjects with fewer than ``min_ratings`` are listed as unranked (not
    enough ratings to judge), never among the best or worst. The worst are
    the last ``worst`` ranked subjects not already among the best.
    """
    ranked, unranked = [], []
    for code, n, total, _id_sum, _max_id in totals:
        n, total = int(n), int(total)
        row = {"subject_code": code, "ratings": n, "total": total,
               "mean": round(total / n, 4) if n else None}
        (ranked if n >= policy.min_ratings else unranked).append(row)
    ranked.sort(key=lambda r: (-r["total"] / r["ratings"], -r["ratings"], r["subject_code"]))
    for place, row in enumerate(ranked, 1):
        row["place"] = place
        if kind.stars:
            row["stars"] = stars(row["total"] / row["ratings"])
    unranked.sort(key=lambda r: r["subject_code"])
    best = [r["subject_code"] for r in ranked[:policy.best]] if kind.best else []
    rest = [r["subject_code"] for r in ranked if r["subject_code"] not in best]
    worst = list(reversed(rest[-policy.worst:])) if kind.best and policy.worst else []
    return {"ranked": ranked, "unranked": unranked, "best": best, "worst": worst,
            "last_place": ranked[-1]["subject_code"] if kind.last_place and ranked else None}


def digest(totals) -> str:
    """The fingerprint of the raw ratings a ranking used: per subject the
    count, the sum of scores, the sum and the largest of the rating ids. A
    rating added, removed or changed changes it."""
    canonical = sorted([str(c), int(n), int(t), int(s), int(m)] for c, n, t, s, m in totals)
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()


# -- SCO-4 重点股室大家评: the quarterly sample of section chiefs ------------------------

SAMPLED_UNIT_KINDS = ("service", "enforcement", "resource")  # 服务、执法、资源类单位
# Highest first: the mean rating at or above which each outcome applies;
# below the last one, the outcome is "report" (评优/晋级/约谈/调整/通报).
DEFAULT_OUTCOMES = {"commend": 4.5, "promote": 4.0, "remind": 3.0, "adjust": 2.0}
OUTCOMES = ("commend", "promote", "remind", "adjust", "report")


def draw_sample(seed: str, population, size: int) -> list:
    """The ``size`` codes of ``population`` whose SHA-256 of ``seed:code`` is
    smallest, in that order: the same seed and population always give the
    same sample, and the order of the population does not matter."""
    if size < 1:
        raise BadInput({"size": ["must be at least 1"]})
    keyed = sorted(population, key=lambda c: hashlib.sha256(f"{seed}:{c}".encode()).hexdigest())
    return keyed[:size]


def sample_outcome(n: int, total: int, thresholds: dict, min_ratings: int) -> str | None:
    """What a sampled section chief's ratings in the quarter lead to; None
    when too few enterprises rated to judge."""
    if n < min_ratings or n == 0:
        return None
    mean = total / n
    for outcome in OUTCOMES[:-1]:
        if mean >= thresholds[outcome]:
            return outcome
    return "report"


# -- SCO-5 指标责任人述职: indicator owners report -----------------------------------------

def check_indicators(data, departments) -> dict:
    """The configured indicators: 12 first-level, 41 second-level, each
    second-level one owned by a known unit. Returns {second-level code: item}."""
    first = data["indicators"]
    second = {c["code"]: {**c, "parent": f["code"], "parent_name": f["name"]}
              for f in first for c in f["children"]}
    if len(first) != 12 or len(second) != 41:
        raise ValueError(f"expected 12 first-level and 41 second-level indicators, "
                         f"got {len(first)} and {len(second)}")
    unknown = sorted({c["owner"] for c in second.values()} - set(departments))
    if unknown:
        raise ValueError(f"indicator owners not in the county's departments: {unknown}")
    return second


def submission_deadline(quarter: str, calendar, working_days: int) -> dt.datetime:
    """Values of a quarter are due ``working_days`` working days after its last day."""
    last_month = months_of(quarter)[-1]
    year, month = int(last_month[:4]), int(last_month[5:])
    first_of_next = dt.date(year + month // 12, month % 12 + 1, 1)
    last_day = first_of_next - dt.timedelta(days=1)
    return calendar.end_of_day(calendar.add_working_days(last_day, working_days))


def check_submission(indicator, caller: Caller, now, deadline):
    """The owner unit (or the task force) submits, before the deadline."""
    if indicator is None:
        raise NotFound("no such indicator")
    if not (caller.is_staff or (caller.role == "department" and caller.org == indicator["owner"])):
        raise Forbidden("only the indicator's owner unit submits its value")
    if now > deadline:
        raise Conflict("the deadline for this quarter's values has passed",
                       {"deadline": deadline.isoformat()})


def bottom_twice(latest_board, previous_board, group: int) -> list:
    """Units in the bottom ``group`` of two report sessions in a row: their
    heads are called in for a talk (约谈)."""
    def bottom(rows):
        return {r["department"] for r in rows[-group:]} if group else set()
    return sorted(bottom(latest_board) & bottom(previous_board))


# -- SCO-6 百户企业评议: the live session ---------------------------------------------

SESSION_OPEN, SESSION_CLOSED = "open", "closed"


def check_session_score(session, department, caller: Caller):
    """A rater (an enterprise representative) scores the session's departments
    while it is open; once per department (the unique key enforces it)."""
    if caller.role != "enterprise":
        raise Forbidden("only enterprise representatives score a session")
    if session.status != SESSION_OPEN:
        raise Conflict("the session is closed")
    if department not in session.departments:
        raise BadInput({"department": ["not reporting in this session"]})


def board_revision(totals, status) -> int:
    """Grows with every score and once more at the close: a screen redraws when
    it changes. Derived from the totals, so no row is bumped by every rater."""
    return sum(int(n) for _d, n, _t in totals) + (1 if status == SESSION_CLOSED else 0)


def board(totals) -> list:
    """The session's standing from ``[(department, n, total)]``: mean first,
    then more scores, then code."""
    rows = [{"department": d, "scores": int(n), "mean": round(int(t) / int(n), 4)}
            for d, n, t in totals if int(n)]
    rows.sort(key=lambda r: (-r["mean"], -r["scores"], r["department"]))
    for place, row in enumerate(rows, 1):
        row["place"] = place
    return rows


# -- SCO-7 scores from the work itself -----------------------------------------------

# Points per unit; positive weights reward, negative ones cost.
DEFAULT_WEIGHTS = {"on_time_rate": 40.0, "satisfaction": 40.0, "overdue": -2.0,
                   "quiet_day_violations": -5.0, "cap_violations": -5.0, "late_filings": -3.0}
WORK_FIELDS = ("replied", "replied_on_time", "overdue", "rated", "rating_total",
               "quiet_day_violations", "cap_violations", "late_filings")


def composite(stats: dict, weights: dict) -> float:
    """A department's composite score for a month: on-time rate (0–1) and
    satisfaction (mean rating / 5, 0–1) times their weights, plus the counts
    times theirs. Without replies or ratings those parts count as full marks
    (nothing late, nobody dissatisfied)."""
    on_time = stats["replied_on_time"] / stats["replied"] if stats["replied"] else 1.0
    satisfaction = stats["rating_total"] / (5 * stats["rated"]) if stats["rated"] else 1.0
    score = weights["on_time_rate"] * on_time + weights["satisfaction"] * satisfaction
    for name in ("overdue", "quiet_day_violations", "cap_violations", "late_filings"):
        score += weights[name] * stats[name]
    return round(score, 2)


def red_black_lists(scores: dict, policy: Policy) -> dict:
    """红黑榜 from ``{department: composite}``: ties by code, like rankings."""
    order = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    red = [d for d, _ in order[:policy.red_list]]
    rest = [d for d, _ in order if d not in red]
    black = list(reversed(rest[-policy.black_list:])) if policy.black_list else []
    return {"red": red, "black": black}
