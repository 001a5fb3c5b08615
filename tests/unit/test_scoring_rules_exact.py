"""The scoring rules pinned down to the boundary and the exact words.

Written against mutmut's survivors (issue #10): the first and last month of
a year, the ratings exactly at the minimum, a ranking where the mean and the
total disagree, the history a follow-up or a card leaves, each refusal's
field and message — so a changed comparison, constant or record fails here.
See docs/testing.md.
"""
import datetime as dt
import hashlib
import json
from types import SimpleNamespace

import pytest

from kernel.calendar import WorkingCalendar
from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from kernel.rpc import Caller
from services.scoring import domain
from tests.unit.test_scoring_rules import totals  # ``(code, n, total, id_sum, max_id)`` rows

CAL = WorkingCalendar()
UTC = dt.timezone.utc
MONDAY = dt.datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TASKFORCE = Caller(role="taskforce", sub="tf-1", org="taskforce")
APPROVAL = Caller(role="department", sub="c-1", org="approval")
ENT_A = Caller(role="enterprise", sub="u-a", org="A")
PERIOD_HELP = ["a month 2026-11, a quarter 2026-Q4 or a year 2026"]


# -- GW-2 who sees a rating ----------------------------------------------------------------------

def test_an_unseen_rating_and_a_missing_one_look_the_same():
    # rule: GW-2
    rating = SimpleNamespace(enterprise_code="A", department="approval")
    for caller, thing in ((Caller(role="enterprise", org="B"), rating),
                          (Caller(role="department", org="market"), rating),
                          (TASKFORCE, None)):
        with pytest.raises(NotFound) as err:
            domain.check_rating_visible(thing, caller)
        assert str(err.value) == "no such rating"
    domain.check_rating_visible(rating, ENT_A)


# -- SCO-3 periods ----------------------------------------------------------------------------

@pytest.mark.parametrize("month", ["2026-01", "2026-12"])
def test_january_and_december_are_months(month):
    # rule: SCO-3
    assert domain.months_of(month) == [month]


@pytest.mark.parametrize("bad", ["2026-00", "2026-13", "2026-Q0", "2026-Q5", "2026-xx", "abcd"])
def test_a_period_that_is_not_one_says_what_is_expected(bad):
    # rule: SCO-3
    with pytest.raises(BadInput) as err:
        domain.months_of(bad)
    assert err.value.errors == {"period": PERIOD_HELP}


def test_each_ranking_takes_its_own_kind_of_period():
    # rule: SCO-3
    kinds = domain.RANKING_KINDS
    assert domain.check_period(kinds["windows_monthly"], "2026-11") == ["2026-11"]
    assert domain.check_period(kinds["units_quarterly"], "2026-Q2") == [
        "2026-04", "2026-05", "2026-06"]
    assert domain.check_period(kinds["units_yearly"], "2026") == [
        f"2026-{m:02d}" for m in range(1, 13)]
    for kind, wrong, unit in (("windows_monthly", "2026", "month"),
                              ("units_quarterly", "2026-11", "quarter"),
                              ("units_yearly", "2026-Q1", "year")):
        with pytest.raises(BadInput) as err:
            domain.check_period(kinds[kind], wrong)
        assert err.value.errors == {"period": [f"this ranking is by {unit}"]}


# -- SCO-3 rankings ----------------------------------------------------------------------------

def test_the_mean_ranks_not_the_total():
    # rule: SCO-3
    # a: three 5s (mean 5, total 15); b: four 4s (mean 4, total 16) — a comes first.
    result = domain.rank(domain.RANKING_KINDS["windows_monthly"],
                         totals(b=[4, 4, 4, 4], a=[5, 5, 5]), domain.Policy(min_ratings=3))
    assert [(r["subject_code"], r["mean"], r["place"]) for r in result["ranked"]] == [
        ("a", 5.0, 1), ("b", 4.0, 2)]


def test_a_subject_without_ratings_is_listed_unranked_with_no_mean():
    # rule: SCO-3
    result = domain.rank(domain.RANKING_KINDS["windows_monthly"],
                         [("z", 0, 0, 0, 0)] + totals(y=[5], x=[4, 4, 4]),
                         domain.Policy(min_ratings=3))
    assert result["unranked"] == [
        {"subject_code": "y", "ratings": 1, "total": 5, "mean": 5.0},
        {"subject_code": "z", "ratings": 0, "total": 0, "mean": None}]
    assert [r["subject_code"] for r in result["ranked"]] == ["x"]


def test_the_last_place_is_the_last_of_three_or_more():
    # rule: SCO-3 (末位淘汰轮岗)
    quarter = domain.rank(domain.RANKING_KINDS["windows_quarterly"],
                          totals(a=[5, 5, 5], b=[3, 3, 3], c=[2, 2, 2], d=[4, 4, 4]),
                          domain.Policy(min_ratings=3))
    assert [r["subject_code"] for r in quarter["ranked"]] == ["a", "d", "b", "c"]
    assert quarter["last_place"] == "c"


def test_the_digest_is_sha256_of_the_published_canonical_totals():
    # rule: SCO-3
    # Anyone holding the raw totals recomputes it: JSON of the rows sorted, no spaces.
    canonical = '[["a",2,9,3,2],["b",1,3,3,3]]'
    assert domain.digest([("b", 1, 3, 3, 3), ("a", 2, 9, 3, 2)]) == \
        hashlib.sha256(canonical.encode()).hexdigest()
    # the subject's code is part of it: the same figures for another subject differ
    assert domain.digest([("a", 1, 5, 1, 1)]) != domain.digest([("b", 1, 5, 1, 1)])


# -- SCO-4 the sample ----------------------------------------------------------------------------

def test_a_sample_of_one_is_the_smallest_hash_and_of_none_is_refused():
    # rule: SCO-4
    population = [f"chief_{i}" for i in range(10)]
    expected = min(population, key=lambda c: hashlib.sha256(f"s-1:{c}".encode()).hexdigest())
    assert domain.draw_sample("s-1", population, 1) == [expected]
    with pytest.raises(BadInput) as err:
        domain.draw_sample("s-1", population, 0)
    assert err.value.errors == {"size": ["must be at least 1"]}


def test_a_chief_with_exactly_the_minimum_of_ratings_is_judged():
    # rule: SCO-4
    t = domain.DEFAULT_OUTCOMES
    assert domain.sample_outcome(5, 25, t, 5) == "commend"
    assert domain.sample_outcome(4, 20, t, 5) is None


# -- SCO-1 the follow-up's record -----------------------------------------------------------------

def new_followup():
    f = SimpleNamespace(department="approval", subject_code="win_approval_1")
    rating = SimpleNamespace(score=2, subject_code="win_approval_1")
    return f, domain.open_followup(f, rating, MONDAY, CAL, domain.Policy(followup_days=5))


def test_opening_a_follow_up_records_when_and_why():
    # rule: SCO-1 (差评必纠)
    f, effect = new_followup()
    assert (f.status, f.opened_at, f.escalation_level) == ("open", MONDAY, 0)
    assert effect.history == [{"action": "open", "actor": "system", "from_status": None,
                               "to_status": "open", "note": "rating 2 of win_approval_1"}]


def test_a_step_short_of_closing_keeps_the_deadline_watched():
    # rule: SCO-1
    f, _ = new_followup()
    domain.act_on_followup(f, "verify", "", APPROVAL, MONDAY, CAL)
    assert f.status == "verified"
    assert f.next_check_at == f.due_at  # the sweep still looks at it
    assert getattr(f, "closed_at", None) is None  # not closed
    assert not getattr(f, "cleared", False)


def test_a_follow_up_refuses_in_words():
    # rule: SCO-1
    f, _ = new_followup()
    with pytest.raises(NotFound) as err:
        domain.act_on_followup(f, "verify", "", ENT_A, MONDAY, CAL)
    assert str(err.value) == "no such follow-up"
    domain.act_on_followup(f, "verify", "", APPROVAL, MONDAY, CAL)
    for empty in (None, "", "  "):
        with pytest.raises(BadInput) as err:
            domain.act_on_followup(f, "groundless", empty, TASKFORCE, MONDAY, CAL)
        assert err.value.errors == {"note": ["closing a follow-up needs a note"]}
    assert f.status == "verified"


def test_each_escalation_step_is_recorded_by_the_system_and_announced():
    # rule: SCO-1
    f, _ = new_followup()
    domain.act_on_followup(f, "verify", "", APPROVAL, MONDAY, CAL)
    effect = domain.escalate_followup(f, [1, 2], CAL)
    assert effect.history == [
        {"action": "escalate:supervision", "actor": "system", "from_status": "verified",
         "to_status": "verified", "note": ""},
        {"action": "escalate:talk", "actor": "system", "from_status": "verified",
         "to_status": "verified", "note": ""}]
    assert effect.events == [("followup.overdue", {"level": 1, "step": "supervision"}),
                             ("followup.overdue", {"level": 2, "step": "talk"})]


# -- SCO-2 the card's record ------------------------------------------------------------------------

def test_a_card_refuses_in_words():
    # rule: SCO-2
    with pytest.raises(Forbidden) as err:
        domain.issue_card(SimpleNamespace(reason="推诿"), APPROVAL, MONDAY)
    assert str(err.value) == "only the task force gives cards"
    with pytest.raises(BadInput) as err:
        domain.issue_card(SimpleNamespace(reason=""), TASKFORCE, MONDAY)
    assert err.value.errors == {"reason": ["a card needs a reason"]}
    card = SimpleNamespace(reason="推诿")
    domain.issue_card(card, TASKFORCE, MONDAY)
    with pytest.raises(BadInput) as err:
        domain.act_on_card(card, "revoke", None, TASKFORCE, MONDAY)
    assert err.value.errors == {"note": ["a finding or a reason is needed"]}


def test_a_finding_and_a_revocation_each_leave_a_full_history_entry():
    # rule: SCO-2
    card = SimpleNamespace(reason="推诿")
    domain.issue_card(card, TASKFORCE, MONDAY)
    later = MONDAY + dt.timedelta(days=1)
    found = domain.act_on_card(card, "find", "属实", TASKFORCE, later)
    assert found.history == [{"action": "find", "actor": "taskforce:tf-1",
                              "from_status": "investigating", "to_status": "found",
                              "note": "属实"}]
    assert card.updated_at == later
    admin = Caller(role="admin", sub="root")
    revoked = domain.act_on_card(card, "revoke", "复核撤销", admin, later)
    assert revoked.history == [{"action": "revoke", "actor": "admin:root",
                                "from_status": "found", "to_status": "revoked",
                                "note": "复核撤销"}]


# -- SCO-5 indicators --------------------------------------------------------------------------------

def load_indicators():
    from kernel.config import ROOT, CountyProfile
    data = json.loads((ROOT / "config" / "scoring" / "indicators.json").read_text("utf-8"))
    return data, CountyProfile.load(ROOT / "config" / "county" / "demo.json").departments


def test_each_second_level_indicator_names_its_parent():
    # rule: SCO-5
    data, departments = load_indicators()
    second = domain.check_indicators(data, departments)
    assert (second["I06.1"]["parent"], second["I06.1"]["parent_name"]) == ("I06", "纳税")


def test_twelve_first_level_with_one_second_level_missing_is_refused():
    # rule: SCO-5
    data, departments = load_indicators()
    first = [dict(f) for f in data["indicators"]]
    first[0]["children"] = first[0]["children"][1:]  # 12 first-level, 40 second-level
    with pytest.raises(ValueError) as err:
        domain.check_indicators({"indicators": first}, departments)
    assert str(err.value) == "expected 12 first-level and 41 second-level indicators, got 12 and 40"
    with pytest.raises(ValueError) as err:
        domain.check_indicators(data, {k: v for k, v in departments.items() if k != "tax"})
    assert str(err.value) == "indicator owners not in the county's departments: ['tax']"


def test_a_submission_refuses_in_words():
    # rule: SCO-5
    deadline = domain.submission_deadline("2026-Q3", CAL, 10)
    tax_item = {"code": "I06.1", "owner": "tax"}
    with pytest.raises(NotFound) as err:
        domain.check_submission(None, TASKFORCE, deadline, deadline)
    assert str(err.value) == "no such indicator"
    with pytest.raises(Forbidden) as err:
        domain.check_submission(tax_item, APPROVAL, deadline, deadline)
    assert str(err.value) == "only the indicator's owner unit submits its value"
    with pytest.raises(Conflict) as err:
        domain.check_submission(tax_item, TASKFORCE, deadline + dt.timedelta(microseconds=1),
                                deadline)
    assert str(err.value) == "the deadline for this quarter's values has passed"
    assert err.value.extra == {"deadline": deadline.isoformat()}


# -- SCO-6 the live session -----------------------------------------------------------------------------

def test_a_session_score_refuses_in_words():
    # rule: SCO-6
    live = SimpleNamespace(status="open", departments=["approval", "tax"])
    with pytest.raises(Forbidden) as err:
        domain.check_session_score(live, "tax", APPROVAL)
    assert str(err.value) == "only enterprise representatives score a session"
    with pytest.raises(BadInput) as err:
        domain.check_session_score(live, "market", ENT_A)
    assert err.value.errors == {"department": ["not reporting in this session"]}
    with pytest.raises(Conflict) as err:
        domain.check_session_score(SimpleNamespace(status="closed", departments=["tax"]), "tax",
                                   ENT_A)
    assert str(err.value) == "the session is closed"


def test_the_board_shows_the_mean_to_four_places():
    # rule: SCO-6
    assert domain.board([("tax", 3, 10), ("hr", 3, 8)]) == [
        {"department": "tax", "scores": 3, "mean": 3.3333, "place": 1},
        {"department": "hr", "scores": 3, "mean": 2.6667, "place": 2}]


# -- SCO-7 the composite score and the lists ------------------------------------------------------------

def test_the_composite_score_is_rounded_to_two_places():
    # rule: SCO-7
    stats = dict.fromkeys(domain.WORK_FIELDS, 0)
    stats.update(replied=3, replied_on_time=1)  # on time 1/3: 40 × 1/3 + 40
    assert domain.composite(stats, domain.DEFAULT_WEIGHTS) == 53.33


def test_equal_scores_go_by_code_whatever_order_they_come_in():
    # rule: SCO-7
    policy = domain.Policy(red_list=1, black_list=1)
    assert domain.red_black_lists({"c": 50, "b": 90, "a": 90, "e": 10, "d": 10}, policy) == {
        "red": ["a"], "black": ["e"]}


def test_a_black_list_of_none_lists_nobody():
    # rule: SCO-7
    policy = domain.Policy(red_list=1, black_list=0)
    assert domain.red_black_lists({"a": 90, "b": 50, "c": 10}, policy) == {
        "red": ["a"], "black": []}
