"""The rules of a visit to an enterprise (入企检查), with no I/O.

Registers checked (INS-1), quiet days (INS-2), the monthly cap (INS-3), the
decision and the entry code's colour (INS-4), emergencies filed afterwards
(INS-5), the double random draw (INS-6), lenient enforcement (INS-8). The
service reads the database, calls these functions and stores what they decide.
"""
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from kernel.errors import NotFound
from kernel.rpc import Caller
from kernel.statemachine import Flag, StateMachine, Transition

# -- vocabulary ---------------------------------------------------------------

ROUTINE, JOINT, RESEARCH, EMERGENCY = "routine", "joint", "research", "emergency"
KINDS = (ROUTINE, JOINT, RESEARCH, EMERGENCY)
KINDS_ZH = {ROUTINE: "日常检查", JOINT: "联合检查", RESEARCH: "调研", EMERGENCY: "紧急检查"}

PENDING, APPROVED, REJECTED, CANCELLED, MERGED, COMPLETED = (
    "pending_approval", "approved", "rejected", "cancelled", "merged", "completed")
STATUSES = (PENDING, APPROVED, REJECTED, CANCELLED, MERGED, COMPLETED)
STATUSES_ZH = {PENDING: "待审批", APPROVED: "已批准", REJECTED: "不予批准", CANCELLED: "已取消",
               MERGED: "已并入联合检查", COMPLETED: "已完成"}

# INS-3: what takes a place under the monthly cap. A cancelled or refused
# visit never happens; a merged one is counted through its joint visit.
COUNTING = frozenset({PENDING, APPROVED, COMPLETED})
# A joint visit can absorb visits not yet carried out.
MERGEABLE = frozenset({PENDING, APPROVED})

GREEN, RED = "green", "red"  # 红绿码

SIZES = ("large", "medium", "small", "micro")
SIZES_ZH = {"large": "大型", "medium": "中型", "small": "小型", "micro": "微型"}

SEVERITIES = ("minor", "general", "serious")  # 轻微 / 一般 / 严重
COMPLIANT, VIOLATION = "compliant", "violation"

LATE_FILING, MISSING_FILING = "late_filing", "missing_filing"


@dataclass(frozen=True)
class NoPenaltyEntry:
    """One line of the county's 首违不罚 list."""
    code: str
    violation_code: str
    name: str
    department: str | None = None


@dataclass(frozen=True)
class Policy:
    """The county's configuration of the rules."""
    quiet_days: tuple = (10, 25)  # 企业宁静日: inclusive days of the month
    exempt_categories: dict = field(default_factory=lambda: dict(DEFAULT_EXEMPT_CATEGORIES))
    monthly_cap: int = 3  # visits per key enterprise per calendar month
    after_filing_days: int = 3  # 事毕备案: working days after an emergency visit
    draw_inspectors: int = 2  # 双随机: inspectors per drawn target
    no_penalty: tuple = ()  # NoPenaltyEntry, ...
    # INS-2/3/5: a department's emergencies and exemptions a month beyond
    # which each further one is flagged for the task force
    monthly_exceptions: int = 2

    def __post_init__(self):
        first, last = self.quiet_days
        if not (1 <= first <= last <= 31):
            raise ValueError("quiet days must be two days of the month, first <= last")
        if self.monthly_cap < 0 or self.after_filing_days < 0 or self.draw_inspectors < 1 \
                or self.monthly_exceptions < 0:
            raise ValueError("cap, filing days and exceptions must be >= 0, draw inspectors >= 1")

    def no_penalty_for(self, violation_code):
        for entry in self.no_penalty:
            if entry.violation_code == violation_code:
                return entry
        return None


DEFAULT_EXEMPT_CATEGORIES = {
    "public_safety": "涉及公共安全",
    "life_and_property": "涉及人民群众生命财产安全",
    "special_industry": "特殊行业",
    "key_field": "重点领域",
}


def violation(rule, message):
    return {"rule": rule, "message": message}


# -- the registers (INS-1 清单之外无检查, 三个全覆盖) ---------------------------------

@dataclass(frozen=True)
class ItemInfo:
    code: str
    department: str
    name: str
    active: bool = True


@dataclass(frozen=True)
class InspectorInfo:
    code: str
    department: str
    name: str
    active: bool = True
    certificate_expires: dt.date | None = None
    conflicts: frozenset = frozenset()  # credit codes declared (利害关系回避)


def register_violations(departments, enterprise_code, planned_date, item_codes, inspector_codes,
                        items, inspectors):
    """Every item and inspector must be on the list of a department of the visit.

    ``items``/``inspectors`` map codes to what the registers hold (missing: not
    registered at all)."""
    depts = set(departments)
    found = []
    for code in item_codes:
        item = items.get(code)
        if item is None or not item.active:
            found.append(violation("INS-1", f"inspection item {code} is not on the county's list"))
        elif item.department not in depts:
            found.append(violation(
                "INS-1", f"inspection item {code} is on the list of {item.department}, "
                         f"not of {', '.join(sorted(depts))}"))
    for code in inspector_codes:
        person = inspectors.get(code)
        if person is None or not person.active:
            found.append(violation("INS-1", f"inspector {code} is not on the roster"))
        elif person.department not in depts:
            found.append(violation(
                "INS-1", f"inspector {code} is on the roster of {person.department}, "
                         f"not of {', '.join(sorted(depts))}"))
        elif person.certificate_expires is not None and person.certificate_expires < planned_date:
            found.append(violation(
                "INS-1", f"inspector {code}'s certificate expires {person.certificate_expires} "
                         f"before the visit"))
        elif enterprise_code in person.conflicts:
            # 回避: the same conflict the random draw avoids (INS-6) bars a filed visit.
            found.append(violation(
                "INS-6", f"inspector {code} declared a conflict of interest with this enterprise"))
    return found


def register_change(before: dict | None, after: dict):
    """INS-1 change history: ``(change, {field: [before, after]})`` of one
    register entry, or None when nothing changed. Values as stored (JSON-safe)."""
    if before is None:
        return "create", {k: [None, v] for k, v in sorted(after.items())}
    changed = {k: [before.get(k), v] for k, v in sorted(after.items()) if before.get(k) != v}
    return ("update", changed) if changed else None


# -- quiet days (INS-2 企业宁静日) ------------------------------------------------

def in_quiet_days(day: dt.date, policy: Policy) -> bool:
    first, last = policy.quiet_days
    return first <= day.day <= last


def quiet_day_violations(planned_date, exempt_category, policy: Policy):
    if not in_quiet_days(planned_date, policy) or exempt_category in policy.exempt_categories:
        return []
    first, last = policy.quiet_days
    return [violation("INS-2", f"{planned_date} falls in the quiet days ({first}th–{last}th) "
                               f"and no exempt category is given")]


# -- the monthly cap (INS-3) -------------------------------------------------------

def is_key_enterprise(ent) -> bool:
    """规模企业, 招商引资重点企业 or 重点项目."""
    return bool(ent.above_scale or ent.key_investment or ent.key_project)


def month_of(day: dt.date) -> str:
    return day.strftime("%Y-%m")


def cap_violations(key_enterprise: bool, already_counted: int, policy: Policy):
    """``already_counted``: visits of every department that hold a place this month."""
    if not key_enterprise or already_counted < policy.monthly_cap:
        return []
    return [violation("INS-3", f"visit {already_counted + 1} this month to a key enterprise; "
                               f"at most {policy.monthly_cap} without approval")]


# -- the decision (INS-4, INS-5) ----------------------------------------------------

@dataclass
class Assessment:
    status: str
    violations: list

    @property
    def entry_code(self):
        return entry_code(self.status)


def assess(kind, register_found, quiet_found, cap_found) -> Assessment:
    """Refused when the registers do not cover it (INS-1); an emergency goes at
    once (INS-5); quiet days or the cap need the task force's head (INS-2/3)."""
    if register_found:
        return Assessment(REJECTED, register_found + quiet_found + cap_found)
    if kind == EMERGENCY:
        return Assessment(APPROVED, [])
    found = quiet_found + cap_found
    return Assessment(PENDING if found else APPROVED, found)


def entry_code(status) -> str:
    return GREEN if status in (APPROVED, COMPLETED) else RED


# -- the visit's table (state × action → next state, who may act) ---------------------------

def _emergency_only(visit, params):
    return None if visit.kind == EMERGENCY else "only an emergency visit is filed after the fact"


def _after_filed_once(visit, params):
    return _emergency_only(visit, params) or (
        "the record of this visit is already filed" if visit.after_filed_at is not None else None)


def _reviewable(visit, params):
    """INS-5: the head reviews an emergency's record once it is filed, once."""
    if visit.kind != EMERGENCY or visit.after_filed_at is None:
        return "the head reviews an emergency's record once it is filed"
    return "this record is already reviewed" if visit.review is not None else None


_STAFF = frozenset({"taskforce", "admin"})
# "head": the task force's head (INS-4); "filer": the filing department;
# "participant": a department taking part — resolved by ``relation``.
VISIT_TRANSITIONS = {
    "approve": Transition({PENDING}, {"head"}, APPROVED),
    "reject": Transition({PENDING}, {"head"}, REJECTED),
    "cancel": Transition({PENDING, APPROVED}, _STAFF | {"filer"}, CANCELLED),
    # INS-5 事毕备案: the record of an emergency visit, after the fact
    "after-filing": Transition({APPROVED, COMPLETED}, _STAFF | {"participant"},
                               outcomes={APPROVED, COMPLETED}, guard=_after_filed_once),
    # INS-8: results per item; the last one completes the visit
    "results": Transition({APPROVED}, _STAFF | {"participant"}, outcomes={APPROVED, COMPLETED}),
    # INS-7: absorbed by a joint visit (``merge_joint`` takes several at once)
    "merge": Transition(MERGEABLE, _STAFF, MERGED),
    # INS-5: the head accepts or flags an emergency's record, with a reason
    "review": Transition({APPROVED, COMPLETED}, {"head"}, guard=_reviewable),
}
VISIT = StateMachine(
    "visit", initial={PENDING, APPROVED, REJECTED}, final={REJECTED, CANCELLED, MERGED, COMPLETED},
    transitions=VISIT_TRANSITIONS,
    flags=[Flag("awaiting_review", set_by=frozenset({"after-filing"}),
                cleared_by=frozenset({"review"})),
           # a late or missing record, or a flagged review, stays on the record
           Flag("flagged", set_by=frozenset({"review"}), permanent=True)])
VISIT_ACTIONS = VISIT.actions
REVIEW_VERDICTS = ("accepted", "flagged")


def visit_relation(heads):
    """The relational roles of a visit for a service configured with ``heads``;
    the visit carries its ``departments`` (every one taking part)."""
    def relation(name, visit, caller: Caller) -> bool:
        if name == "head":
            return may_approve(caller, heads)
        if name == "filer":
            return caller.role == "department" and caller.org == visit.department
        if name == "participant":
            return caller.role == "department" and caller.org in visit.departments
        return False
    return relation


def may_approve(caller: Caller, heads) -> bool:
    """The task force's head (专班主要领导): a task-force caller holding the
    ``inspections:approve`` scope, or one whose ``sub`` is configured as head."""
    if caller is None or caller.role != "taskforce":
        return False
    return "inspections:approve" in caller.scopes or (caller.sub and caller.sub in heads)


# -- emergencies and exemptions watched (INS-2/3/5) ---------------------------------

def is_exception(kind, exempt_category) -> bool:
    """A visit that skips the ordinary checks: an emergency (approved at once)
    or one claiming an exempt category (quiet days do not apply)."""
    return kind == EMERGENCY or exempt_category is not None


def beyond_monthly_exceptions(earlier_this_month: int, policy: Policy) -> bool:
    """``earlier_this_month``: the department's exceptions already filed this month."""
    return earlier_this_month >= policy.monthly_exceptions


# -- emergencies filed afterwards (INS-5 事毕备案) -------------------------------------

def after_filing_due(visit_date: dt.date, calendar, policy: Policy) -> dt.datetime:
    """End (Shanghai) of the Nth working day after the visit."""
    return calendar.end_of_day(calendar.add_working_days(visit_date, policy.after_filing_days))


def flag_reason(due_at, filed_at, already_flagged, now):
    """Why to flag an emergency's after-the-fact filing now, or None. Once per visit."""
    if already_flagged or due_at is None:
        return None
    if filed_at is None:
        return MISSING_FILING if now > due_at else None
    return LATE_FILING if filed_at > due_at else None


# -- double random, one public (INS-6 双随机一公开) ------------------------------------

class DrawError(ValueError):
    def __init__(self, field_name, message):
        super().__init__(message)
        self.field = field_name


def _rank(seed, *parts):
    """A number anyone can recompute: SHA-256 of the seed and the parts."""
    return hashlib.sha256("|".join((seed,) + parts).encode("utf-8")).hexdigest()


def draw(seed: str, candidates, roster, conflicts, count: int, per_target: int):
    """Draw ``count`` targets from ``candidates`` (credit codes) and
    ``per_target`` inspectors each from ``roster`` (inspector codes), never one
    with a declared conflict (``conflicts``: set of (inspector, credit code)).

    Deterministic in its inputs: targets in ascending SHA-256(seed|target|code);
    for each target in that order, the eligible inspectors with the fewest
    assignments so far, ties broken by SHA-256(seed|inspector|target|inspector).
    So a draw is re-run from its recorded seed and inputs by anyone."""
    candidates = sorted(set(candidates))
    roster = sorted(set(roster))
    if count < 1:
        raise DrawError("count", "must be at least 1")
    if count > len(candidates):
        raise DrawError("count", f"only {len(candidates)} enterprises match the filters")
    targets = sorted(candidates, key=lambda code: _rank(seed, "target", code))[:count]
    load = {code: 0 for code in roster}
    result = []
    for target in targets:
        eligible = [i for i in roster if (i, target) not in conflicts]
        if len(eligible) < per_target:
            raise DrawError("department", f"fewer than {per_target} inspectors on the roster are "
                                          f"free of a conflict with {target}")
        chosen = sorted(eligible, key=lambda i: (load[i], _rank(seed, "inspector", target, i)))
        chosen = sorted(chosen[:per_target])
        for i in chosen:
            load[i] += 1
        result.append({"credit_code": target, "inspectors": chosen})
    return result


def population_digest(candidates, roster, conflicts, count: int, per_target: int) -> str:
    """SHA-256 of the draw's inputs, fixed and recorded before the seed is
    drawn: the seed cannot have been chosen for this population."""
    inputs = {"candidates": sorted(candidates), "roster": sorted(roster),
              "conflicts": sorted([list(c) for c in conflicts]), "count": count,
              "per_target": per_target}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":"))
                          .encode("utf-8")).hexdigest()


def filter_directory(enterprises, industry=None, town=None, size=None, key_only=False):
    """The draw's population: the directory filtered (each filter a list of values or None)."""
    out = []
    for e in enterprises:
        if industry and e.industry not in industry:
            continue
        if town and e.town not in town:
            continue
        if size and e.size not in size:
            continue
        if key_only and not is_key_enterprise(e):
            continue
        out.append(e.credit_code)
    return sorted(out)


# -- results (INS-8 首违不罚) ------------------------------------------------------------

def judge_finding(outcome, violation_code, severity, earlier_same_violations, policy: Policy):
    """Penalised or not. A first minor violation on the no-penalty list is
    recorded and not punished, naming the list entry."""
    if outcome != VIOLATION:
        return {"first_offence": None, "penalised": False, "no_penalty": None}
    first = earlier_same_violations == 0
    entry = policy.no_penalty_for(violation_code)
    if first and severity == "minor" and entry is not None:
        return {"first_offence": True, "penalised": False, "no_penalty": entry}
    return {"first_offence": first, "penalised": True, "no_penalty": None}


# -- access (GW-2) ---------------------------------------------------------------------

def can_see(visit_departments, enterprise_code, caller: Caller) -> bool:
    if caller.is_staff:
        return True
    if caller.role == "department":
        return caller.org in visit_departments
    if caller.role == "enterprise":
        return caller.org == enterprise_code
    return False


def check_visible(visit, departments, caller: Caller):
    if visit is None or not can_see(departments, visit.enterprise_code, caller):
        raise NotFound("no such inspection")  # never reveal that another's exists
