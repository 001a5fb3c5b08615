"""The inspections rules pinned down to the boundary and the exact words.

Written against mutmut's survivors (issue #10): each test makes one rule's
edge observable — the day a certificate expires, the instant a record falls
due, the fourth visit's number, the order of a draw anyone can recompute —
so a changed comparison or constant fails here. See docs/testing.md.
"""
import datetime as dt
import hashlib
from types import SimpleNamespace

import pytest

from kernel.errors import Conflict, NotFound
from kernel.rpc import Caller
from services.inspections import domain
from services.inspections.domain import APPROVED, EMERGENCY, PENDING, REJECTED, ROUTINE, Policy

DAY = dt.date(2026, 12, 3)  # a Thursday outside the quiet days
ITEMS = {"MKT-001": domain.ItemInfo("MKT-001", "market", "营业执照检查"),
         "EMG-001": domain.ItemInfo("EMG-001", "emergency", "安全生产检查"),
         "MKT-OLD": domain.ItemInfo("MKT-OLD", "market", "已取消", active=False)}
PEOPLE = {"M1": domain.InspectorInfo("M1", "market", "田雨"),
          "M2": domain.InspectorInfo("M2", "market", "向东", conflicts=frozenset({"E-CONFLICT"})),
          "M4": domain.InspectorInfo("M4", "market", "彭芳", certificate_expires=DAY),
          "M5": domain.InspectorInfo("M5", "market", "杨帆",
                                     certificate_expires=DAY - dt.timedelta(days=1)),
          "M-OLD": domain.InspectorInfo("M-OLD", "market", "离岗", active=False),
          "E1": domain.InspectorInfo("E1", "emergency", "石磊")}


def registers(departments, item_codes, inspector_codes, enterprise="E"):
    return domain.register_violations(departments, enterprise, DAY, item_codes, inspector_codes,
                                      ITEMS, PEOPLE)


# -- Policy: what a county may configure ------------------------------------------------------

@pytest.mark.parametrize("window", [(10, 10), (1, 31), (1, 1), (31, 31)])
def test_any_window_of_days_inside_a_month_is_a_valid_quiet_window(window):
    # rule: INS-2
    # A single day (first == last) and the whole month are both allowed.
    assert Policy(quiet_days=window).quiet_days == window


@pytest.mark.parametrize("window", [(0, 5), (25, 10), (1, 32), (32, 32)])
def test_a_quiet_window_outside_a_month_or_backwards_is_refused(window):
    # rule: INS-2
    with pytest.raises(ValueError) as err:
        Policy(quiet_days=window)
    assert str(err.value) == "quiet days must be two days of the month, first <= last"


def test_zero_is_a_valid_cap_filing_delay_and_exception_count_and_one_inspector_a_valid_draw():
    # rule: INS-3
    # rule: INS-5
    # rule: INS-6
    policy = Policy(monthly_cap=0, after_filing_days=0, monthly_exceptions=0, draw_inspectors=1)
    assert (policy.monthly_cap, policy.after_filing_days, policy.draw_inspectors) == (0, 0, 1)


@pytest.mark.parametrize("setting", [{"monthly_cap": -1}, {"after_filing_days": -1},
                                     {"monthly_exceptions": -1}, {"draw_inspectors": 0}])
def test_each_negative_setting_alone_is_refused(setting):
    # rule: INS-3
    # rule: INS-5
    # rule: INS-6
    with pytest.raises(ValueError) as err:
        Policy(**setting)
    assert str(err.value) == "cap, filing days and exceptions must be >= 0, draw inspectors >= 1"


# -- INS-1 the registers, word for word ----------------------------------------------------------

def test_each_register_refusal_names_the_rule_and_the_code():
    # rule: INS-1
    assert registers(["market"], ["NOPE", "MKT-OLD"], ["M1"]) == [
        {"rule": "INS-1", "message": "inspection item NOPE is not on the county's list"},
        {"rule": "INS-1", "message": "inspection item MKT-OLD is not on the county's list"}]
    assert registers(["market", "tax"], ["EMG-001"], ["E1"]) == [
        {"rule": "INS-1", "message": "inspection item EMG-001 is on the list of emergency, "
                                     "not of market, tax"},
        {"rule": "INS-1", "message": "inspector E1 is on the roster of emergency, "
                                     "not of market, tax"}]
    assert registers(["market"], ["MKT-001"], ["X9", "M-OLD"]) == [
        {"rule": "INS-1", "message": "inspector X9 is not on the roster"},
        {"rule": "INS-1", "message": "inspector M-OLD is not on the roster"}]


def test_a_certificate_is_valid_through_the_day_it_expires():
    # rule: INS-1
    # M4's certificate expires on the day of the visit: still valid that day.
    assert registers(["market"], ["MKT-001"], ["M4"]) == []
    assert registers(["market"], ["MKT-001"], ["M5"]) == [
        {"rule": "INS-1", "message": "inspector M5's certificate expires 2026-12-02 before the visit"}]


def test_a_declared_conflict_is_refused_in_words():
    # rule: INS-6
    assert registers(["market"], ["MKT-001"], ["M2"], enterprise="E-CONFLICT") == [
        {"rule": "INS-6", "message": "inspector M2 declared a conflict of interest with this "
                                     "enterprise"}]
    assert registers(["market"], ["MKT-001"], ["M2"], enterprise="E-OTHER") == []


# -- INS-2/3 the messages the head reads ---------------------------------------------------------

def test_a_visit_in_the_quiet_days_says_which_window():
    # rule: INS-2
    assert domain.quiet_day_violations(dt.date(2026, 12, 10), None, Policy()) == [
        {"rule": "INS-2", "message": "2026-12-10 falls in the quiet days (10th–25th) "
                                     "and no exempt category is given"}]


def test_the_fourth_visit_is_named_as_the_fourth():
    # rule: INS-3
    assert domain.cap_violations(True, 3, Policy()) == [
        {"rule": "INS-3", "message": "visit 4 this month to a key enterprise; "
                                     "at most 3 without approval"}]
    assert domain.cap_violations(True, 5, Policy(monthly_cap=5))[0]["message"] == (
        "visit 6 this month to a key enterprise; at most 5 without approval")


# -- INS-4/5 the decision carries what it found --------------------------------------------------

def test_the_decision_lists_what_it_found():
    # rule: INS-4
    quiet = [domain.violation("INS-2", "quiet")]
    cap = [domain.violation("INS-3", "cap")]
    assert domain.assess(ROUTINE, [], [], []).violations == []
    assert domain.assess(ROUTINE, [], quiet, cap).violations == quiet + cap
    assert domain.assess(domain.JOINT, [], [], cap).status == PENDING


def test_an_emergency_is_approved_with_nothing_held_against_it():
    # rule: INS-5
    quiet = [domain.violation("INS-2", "quiet")]
    decided = domain.assess(EMERGENCY, [], quiet, [])
    assert (decided.status, decided.violations, decided.entry_code) == (APPROVED, [], "green")
    assert domain.assess(EMERGENCY, [domain.violation("INS-1", "x")], [], []).status == REJECTED


# -- INS-5 the table's refusals, word for word -------------------------------------------------

HEADS = frozenset({"tf-head"})
HEAD = Caller(role="taskforce", sub="tf-head", org="taskforce")
MARKET = Caller(role="department", sub="c", org="market")


def visit(**kw):
    base = dict(status=APPROVED, kind=EMERGENCY, department="market", departments=["market"],
                after_filed_at=None, review=None)
    return SimpleNamespace(**{**base, **kw})


def refusal(action, v, caller):
    with pytest.raises(Conflict) as err:
        domain.VISIT.check(action, v, caller, {}, domain.visit_relation(HEADS))
    return str(err.value)


def test_the_after_the_fact_refusals_say_why():
    # rule: INS-5
    assert refusal("after-filing", visit(kind=ROUTINE), MARKET) == (
        "only an emergency visit is filed after the fact")
    assert refusal("after-filing", visit(after_filed_at="t"), MARKET) == (
        "the record of this visit is already filed")
    assert refusal("review", visit(), HEAD) == (
        "the head reviews an emergency's record once it is filed")
    assert refusal("review", visit(after_filed_at="t", review="flagged"), HEAD) == (
        "this record is already reviewed")


def test_a_record_filed_or_checked_at_the_deadline_itself_is_on_time():
    # rule: INS-5
    due = dt.datetime(2026, 10, 10, 15, 59, 59, 999999, tzinfo=dt.timezone.utc)
    tick = dt.timedelta(microseconds=1)
    assert domain.flag_reason(due, None, False, due) is None  # not yet missing
    assert domain.flag_reason(due, None, False, due + tick) == "missing_filing"
    assert domain.flag_reason(due, due, False, due + tick) is None  # filed in the last instant
    assert domain.flag_reason(due, due + tick, False, due + tick) == "late_filing"
    assert domain.flag_reason(None, None, False, due) is None  # not an emergency: no deadline


# -- INS-6 the draw, recomputed by hand from its published description ------------------------

def sha(*parts):
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()


def test_the_targets_are_those_with_the_smallest_published_hash():
    # rule: INS-6
    population = [f"E{i:02d}" for i in range(12)]
    expected = sorted(population, key=lambda code: sha("seed-7", "target", code))[:4]
    drawn = domain.draw("seed-7", population, ["I1", "I2", "I3"], set(), 4, 1)
    assert [t["credit_code"] for t in drawn] == expected
    assert expected != sorted(population)[:4]  # the hash decides, not the code


def test_each_targets_inspectors_are_those_with_the_smallest_published_hash():
    # rule: INS-6
    roster = [f"I{i}" for i in range(1, 9)]
    [first] = domain.draw("seed-7", ["E01"], roster, set(), 1, 3)
    expected = sorted(sorted(roster, key=lambda i: sha("seed-7", "inspector", "E01", i))[:3])
    assert first == {"credit_code": "E01", "inspectors": expected}
    assert expected != roster[:3]
    # another seed, another draw: the seed is part of every hash
    [other] = domain.draw("seed-8", ["E01"], roster, set(), 1, 3)
    assert other["inspectors"] == sorted(
        sorted(roster, key=lambda i: sha("seed-8", "inspector", "E01", i))[:3])


def test_a_draw_of_nothing_or_too_much_is_refused_in_words():
    # rule: INS-6
    with pytest.raises(domain.DrawError) as err:
        domain.draw("x", ["E01", "E02"], ["I1", "I2"], set(), 0, 1)
    assert (err.value.field, str(err.value)) == ("count", "must be at least 1")
    with pytest.raises(domain.DrawError) as err:
        domain.draw("x", ["E01", "E02", "E01"], ["I1"], set(), 3, 1)
    assert (err.value.field, str(err.value)) == ("count", "only 2 enterprises match the filters")
    with pytest.raises(domain.DrawError) as err:
        domain.draw("x", ["E01"], ["I1", "I2"], {("I1", "E01")}, 1, 2)
    assert (err.value.field, str(err.value)) == (
        "department", "fewer than 2 inspectors on the roster are free of a conflict with E01")


def test_a_non_matching_enterprise_does_not_end_the_filtering():
    # rule: INS-6
    rows = [SimpleNamespace(credit_code=c, industry=i, town=t, size=s, above_scale=k,
                            key_investment=False, key_project=False)
            for c, i, t, s, k in [("A", "mining", "moshi", "micro", False),
                                  ("B", "food", "park", "large", True),
                                  ("C", "mining", "hongshi", "small", False),
                                  ("D", "food", "park", "large", True)]]
    assert domain.filter_directory(rows, industry=["food"]) == ["B", "D"]
    assert domain.filter_directory(rows, town=["park"]) == ["B", "D"]
    assert domain.filter_directory(rows, size=["large"]) == ["B", "D"]
    assert domain.filter_directory(rows, key_only=True) == ["B", "D"]


# -- INS-8 the finding as stored ------------------------------------------------------------------

NO_PENALTY = domain.NoPenaltyEntry("SWBF-MKT-01", "MKT-LICENCE-DISPLAY", "未悬挂营业执照")
POLICY = Policy(no_penalty=(NO_PENALTY,))


def test_each_finding_is_stored_with_exactly_its_three_fields():
    # rule: INS-8
    judge = lambda *a: domain.judge_finding(*a, POLICY)  # noqa: E731
    assert judge("compliant", None, None, 0) == {
        "first_offence": None, "penalised": False, "no_penalty": None}
    assert judge("violation", "MKT-LICENCE-DISPLAY", "minor", 0) == {
        "first_offence": True, "penalised": False, "no_penalty": NO_PENALTY}
    assert judge("violation", "MKT-LICENCE-DISPLAY", "minor", 2) == {
        "first_offence": False, "penalised": True, "no_penalty": None}
    assert judge("violation", "MKT-FAKE-GOODS", "serious", 0) == {
        "first_offence": True, "penalised": True, "no_penalty": None}


# -- GW-2 who sees a visit --------------------------------------------------------------------------

def test_a_visit_is_seen_by_its_departments_its_enterprise_and_the_task_force():
    # rule: GW-2
    departments = ["market", "tax"]
    see = lambda caller: domain.can_see(departments, "E-1", caller)  # noqa: E731
    assert see(Caller(role="taskforce", sub="t"))
    assert see(Caller(role="admin", sub="a"))
    assert see(Caller(role="department", org="tax"))
    assert not see(Caller(role="department", org="ecology"))
    assert see(Caller(role="enterprise", org="E-1"))
    assert not see(Caller(role="enterprise", org="E-2"))
    assert not see(Caller(role="channel", org="E-1"))


def test_an_unseen_visit_and_a_missing_one_look_the_same():
    # rule: GW-2
    v = SimpleNamespace(enterprise_code="E-1")
    domain.check_visible(v, ["market"], Caller(role="enterprise", org="E-1"))
    domain.check_visible(v, ["market"], Caller(role="department", org="market"))
    for seen_by, thing in ((Caller(role="enterprise", org="E-2"), v),
                           (Caller(role="department", org="tax"), v),
                           (Caller(role="taskforce", sub="t"), None)):
        with pytest.raises(NotFound) as err:
            domain.check_visible(thing, ["market"], seen_by)
        assert str(err.value) == "no such inspection"
