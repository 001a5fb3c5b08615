"""The rules of scoring (services/scoring/domain.py), without broker or database."""
import datetime as dt
from types import SimpleNamespace

import pytest

from kernel.calendar import WorkingCalendar
from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from kernel.rpc import Caller
from services.scoring import domain

CAL = WorkingCalendar()
UTC = dt.timezone.utc
# Monday 2 November 2026, 10:00 in Shanghai
MONDAY = dt.datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
TASKFORCE = Caller(role="taskforce", sub="tf-1", org="taskforce")
APPROVAL = Caller(role="department", sub="c-1", org="approval")
MARKET = Caller(role="department", sub="c-2", org="market")
ENT_A = Caller(role="enterprise", sub="u-a", org="A")
ENT_B = Caller(role="enterprise", sub="u-b", org="B")
WINDOWS = domain.RANKING_KINDS["windows_monthly"]
POLICY = domain.Policy(min_ratings=3, best=2, worst=1)


def totals(**subjects):
    """code=[scores…] → ``(code, n, total, id_sum, max_id)`` with made-up ids."""
    out, next_id = [], 1
    for code, scores in subjects.items():
        ids = list(range(next_id, next_id + len(scores)))
        next_id += len(scores)
        out.append((code, len(scores), sum(scores), sum(ids), max(ids) if ids else 0))
    return out


# -- SCO-1 ---------------------------------------------------------------------------------

def test_one_and_two_are_bad_ratings():
    # rule: SCO-1
    assert [domain.is_bad(s) for s in (1, 2, 3, 4, 5)] == [True, True, False, False, False]
    assert set(domain.RATINGS) == {1, 2, 3, 4, 5}


def test_a_rating_counts_in_its_shanghai_month():
    # rule: SCO-1
    assert domain.period_of(dt.datetime(2026, 10, 31, 17, 0, tzinfo=UTC), CAL) == "2026-11"
    assert domain.period_of(dt.datetime(2026, 10, 31, 15, 59, tzinfo=UTC), CAL) == "2026-10"


def test_ratings_are_seen_by_their_enterprise_their_unit_and_the_task_force():
    # rule: GW-2
    rating = SimpleNamespace(enterprise_code="A", department="approval")
    assert domain.can_see_rating(rating, ENT_A) and not domain.can_see_rating(rating, ENT_B)
    assert domain.can_see_rating(rating, APPROVAL) and not domain.can_see_rating(rating, MARKET)
    assert domain.can_see_rating(rating, TASKFORCE)
    assert not domain.can_see_rating(rating, Caller(role="channel", org="A"))
    with pytest.raises(NotFound):
        domain.check_rating_visible(rating, ENT_B)
    with pytest.raises(NotFound):
        domain.check_rating_visible(None, TASKFORCE)


def new_followup(now=MONDAY):
    f = SimpleNamespace(department="approval", subject_code="win_approval_1")
    rating = SimpleNamespace(score=1, subject_code="win_approval_1")
    effect = domain.open_followup(f, rating, now, CAL, domain.Policy(followup_days=5))
    return f, effect


def test_a_bad_rating_opens_a_follow_up_due_in_working_days():
    # rule: SCO-1 (差评必纠)
    f, effect = new_followup()
    assert f.status == "open" and effect.history[0]["to_status"] == "open"
    # five working days after Monday 2 November: Monday 9 November, end of day in Shanghai
    assert f.due_at == dt.datetime(2026, 11, 9, 15, 59, 59, 999999, tzinfo=UTC)
    assert f.next_check_at == f.due_at


def test_a_follow_up_is_verified_rectified_and_closed_with_a_note():
    # rule: SCO-1
    f, _ = new_followup()
    with pytest.raises(NotFound):  # another unit's case does not exist for it
        domain.act_on_followup(f, "verify", "", MARKET, MONDAY, CAL)
    with pytest.raises(NotFound):
        domain.act_on_followup(f, "verify", "", ENT_A, MONDAY, CAL)
    with pytest.raises(Forbidden):
        domain.act_on_followup(f, "close", "done", APPROVAL, MONDAY, CAL)
    with pytest.raises(Conflict):
        domain.act_on_followup(f, "rectify", "", APPROVAL, MONDAY, CAL)
    with pytest.raises(BadInput):
        domain.act_on_followup(f, "shred", "", TASKFORCE, MONDAY, CAL)
    assert f.status == "open"
    domain.act_on_followup(f, "verify", "", APPROVAL, MONDAY, CAL)
    domain.act_on_followup(f, "rectify", "改了", APPROVAL, MONDAY, CAL)
    with pytest.raises(BadInput) as refused:
        domain.act_on_followup(f, "close", "   ", TASKFORCE, MONDAY, CAL)
    assert set(refused.value.errors) == {"note"}
    effect = domain.act_on_followup(f, "close", "回访满意", TASKFORCE, MONDAY, CAL)
    assert f.status == "closed" and f.closed_at == MONDAY and f.next_check_at is None
    assert effect.history == [{"action": "close", "actor": "taskforce:tf-1",
                               "from_status": "rectified", "to_status": "closed",
                               "note": "回访满意"}]
    assert not getattr(f, "cleared", False)


def test_a_groundless_complaint_clears_the_name():
    # rule: SCO-1 (澄清正名)
    f, _ = new_followup()
    with pytest.raises(Forbidden):
        domain.act_on_followup(f, "groundless", "不实", APPROVAL, MONDAY, CAL)
    domain.act_on_followup(f, "verify", "", APPROVAL, MONDAY, CAL)
    domain.act_on_followup(f, "groundless", "经核实不实", TASKFORCE, MONDAY, CAL)
    assert (f.status, f.cleared, f.clearing_note) == ("groundless", True, "经核实不实")
    with pytest.raises(Conflict):
        domain.act_on_followup(f, "groundless", "again", TASKFORCE, MONDAY, CAL)


def test_an_overdue_follow_up_climbs_each_step_once():
    # rule: SCO-1
    f, _ = new_followup()
    assert domain.followup_due_steps(f, f.due_at - dt.timedelta(seconds=1), CAL) == []
    assert domain.followup_due_steps(f, f.due_at, CAL) == [1]
    later = CAL.shift(f.due_at, 3)
    assert domain.followup_due_steps(f, later, CAL) == [1, 2]
    effect = domain.escalate_followup(f, [1, 2], CAL)
    assert [e[1] for e in effect.events] == [{"level": 1, "step": "supervision"},
                                              {"level": 2, "step": "talk"}]
    assert f.escalation_level == 2 and f.next_check_at == CAL.shift(f.due_at, 5)
    assert domain.followup_due_steps(f, later, CAL) == []
    domain.escalate_followup(f, [3], CAL)
    assert f.next_check_at is None
    closed, _ = new_followup()
    closed.status = "closed"
    assert domain.followup_due_steps(closed, later, CAL) == []


# -- SCO-2 ---------------------------------------------------------------------------------

def test_a_card_is_given_by_the_task_force_with_a_reason_and_investigated():
    # rule: SCO-2
    card = SimpleNamespace(reason="推诿")
    with pytest.raises(Forbidden):
        domain.issue_card(card, APPROVAL, MONDAY)
    with pytest.raises(BadInput) as refused:
        domain.issue_card(SimpleNamespace(reason=" "), TASKFORCE, MONDAY)
    assert set(refused.value.errors) == {"reason"}
    with pytest.raises(BadInput):
        domain.issue_card(SimpleNamespace(reason=None), TASKFORCE, MONDAY)
    effect = domain.issue_card(card, TASKFORCE, MONDAY)
    assert card.status == "investigating" and [e[0] for e in effect.events] == ["card.issued"]
    assert (card.issued_by, card.issued_at) == ("taskforce:tf-1", MONDAY)
    assert effect.history == [{"action": "issue", "actor": "taskforce:tf-1", "from_status": None,
                               "to_status": "investigating", "note": "推诿"}]
    with pytest.raises(BadInput) as refused:
        domain.act_on_card(card, "find", "", TASKFORCE, MONDAY)
    assert set(refused.value.errors) == {"note"}
    with pytest.raises(BadInput) as refused:
        domain.act_on_card(card, "destroy", "x", TASKFORCE, MONDAY)
    assert set(refused.value.errors) == {"action"}
    with pytest.raises(Forbidden):
        domain.act_on_card(card, "find", "x", APPROVAL, MONDAY)
    domain.act_on_card(card, "find", "属实", TASKFORCE, MONDAY)
    assert (card.status, card.finding) == ("found", "属实")
    domain.act_on_card(card, "revoke", "复核撤销", TASKFORCE, MONDAY)
    assert (card.status, card.revoked_reason, card.finding) == ("revoked", "复核撤销", "属实")
    with pytest.raises(Conflict):
        domain.act_on_card(card, "find", "x", TASKFORCE, MONDAY)


# -- SCO-3 ---------------------------------------------------------------------------------

def test_periods_are_months_quarters_and_years():
    # rule: SCO-3
    assert domain.months_of("2026-11") == ["2026-11"]
    assert domain.months_of("2026-Q4") == ["2026-10", "2026-11", "2026-12"]
    assert len(domain.months_of("2026")) == 12
    for bad in ("2026-13", "2026-Q5", "26", "2026-1", "x"):
        with pytest.raises(BadInput):
            domain.months_of(bad)
    with pytest.raises(BadInput):
        domain.check_period(WINDOWS, "2026-Q4")
    assert domain.check_period(domain.RANKING_KINDS["units_quarterly"], "2026-Q1")[0] == "2026-01"


def test_ranking_by_mean_with_ties_broken_by_count_then_code():
    # rule: SCO-3
    result = domain.rank(WINDOWS, totals(b=[5, 4, 5], a=[5, 5, 4], c=[5, 4, 5, 4, 5, 5],
                                         d=[3, 3, 3], e=[5, 5]), POLICY)
    assert [r["subject_code"] for r in result["ranked"]] == ["c", "a", "b", "d"]
    assert [r["place"] for r in result["ranked"]] == [1, 2, 3, 4]
    assert result["ranked"][1]["mean"] == 4.6667
    assert result["best"] == ["c", "a"] and result["worst"] == ["d"]
    # under the minimum: listed, not ranked, never best or worst
    assert [(r["subject_code"], r["ratings"]) for r in result["unranked"]] == [("e", 2)]
    assert result["last_place"] is None


def test_the_worst_are_never_also_among_the_best():
    # rule: SCO-3
    policy = domain.Policy(min_ratings=1, best=5, worst=3)
    result = domain.rank(WINDOWS, totals(a=[5], b=[4], c=[3], d=[2], e=[1], f=[1]), policy)
    assert result["best"] == ["a", "b", "c", "d", "e"] and result["worst"] == ["f"]
    assert domain.rank(WINDOWS, [], policy)["best"] == []


def test_clerks_get_stars_and_the_quarter_names_the_last_window():
    # rule: SCO-3
    clerks = domain.rank(domain.RANKING_KINDS["clerks_monthly"],
                         totals(x=[5, 5, 4], y=[2, 3, 3], z=[1, 1, 2]), POLICY)
    assert [(r["subject_code"], r["stars"]) for r in clerks["ranked"]] == [
        ("x", 5), ("y", 3), ("z", 1)]
    assert clerks["best"] == [] and clerks["worst"] == []
    assert [domain.stars(m) for m in (1.0, 1.49, 1.5, 4.49, 4.5, 5.0)] == [1, 1, 2, 4, 5, 5]
    quarter = domain.rank(domain.RANKING_KINDS["windows_quarterly"],
                          totals(a=[5, 5, 5], b=[1, 2, 1], c=[1]), POLICY)
    assert quarter["last_place"] == "b"  # 末位淘汰轮岗: c has too few ratings to be judged


def test_the_digest_changes_with_any_rating_and_not_with_order():
    # rule: SCO-3
    base = totals(a=[5, 4], b=[3])
    assert domain.digest(base) == domain.digest(list(reversed(base)))
    assert len(domain.digest(base)) == 64
    changed_score = [("a", 2, 8, 3, 2), base[1]]
    changed_id = [("a", 2, 9, 4, 3), base[1]]
    added = [("a", 3, 9, 6, 3), base[1]]
    assert len({domain.digest(x) for x in (base, changed_score, changed_id, added)}) == 4


# -- SCO-4 ---------------------------------------------------------------------------------

def test_the_sample_replays_from_its_seed_whatever_the_order_of_the_population():
    # rule: SCO-4
    population = [f"chief_{i}" for i in range(30)]
    first = domain.draw_sample("seed-1", population, 5)
    assert len(first) == 5 and set(first) <= set(population)
    assert domain.draw_sample("seed-1", list(reversed(population)), 5) == first
    assert domain.draw_sample("seed-2", population, 5) != first
    assert sorted(domain.draw_sample("s", population[:3], 10)) == sorted(population[:3])
    with pytest.raises(BadInput):
        domain.draw_sample("s", population, 0)


def test_sampled_chiefs_are_classified_by_configured_thresholds():
    # rule: SCO-4
    t = domain.DEFAULT_OUTCOMES
    assert [domain.sample_outcome(10, total, t, 5) for total in (50, 45, 44, 40, 30, 20, 19)] == [
        "commend", "commend", "promote", "promote", "remind", "adjust", "report"]
    assert domain.sample_outcome(4, 20, t, 5) is None  # too few enterprises rated
    assert domain.sample_outcome(0, 0, t, 0) is None
    assert domain.sample_outcome(10, 45, {**t, "commend": 4.8}, 5) == "promote"


# -- SCO-5 ---------------------------------------------------------------------------------

def load_indicators():
    import json
    from kernel.config import ROOT, CountyProfile
    data = json.loads((ROOT / "config" / "scoring" / "indicators.json").read_text("utf-8"))
    return data, CountyProfile.load(ROOT / "config" / "county" / "demo.json").departments


def test_twelve_first_level_and_forty_one_second_level_indicators_each_with_an_owner():
    # rule: SCO-5
    data, departments = load_indicators()
    second = domain.check_indicators(data, departments)
    assert len(second) == 41 and second["I06.1"]["owner"] == "tax"
    assert second["I06.1"]["parent_name"] == "纳税"
    with pytest.raises(ValueError):
        domain.check_indicators({"indicators": data["indicators"][:11]}, departments)
    with pytest.raises(ValueError):
        domain.check_indicators(data, {k: v for k, v in departments.items() if k != "tax"})


def test_values_are_due_working_days_after_the_quarter_from_the_owner_only():
    # rule: SCO-5
    deadline = domain.submission_deadline("2026-Q3", CAL, 10)
    # 30 September, then the National Day week (1–8 October off; 10 October is a make-up day)
    assert CAL.local_date(deadline) == CAL.add_working_days(dt.date(2026, 9, 30), 10)
    assert domain.submission_deadline("2026-Q4", CAL, 0) == CAL.end_of_day(dt.date(2026, 12, 31))
    tax_item = {"code": "I06.1", "owner": "tax"}
    tax = Caller(role="department", sub="t", org="tax")
    domain.check_submission(tax_item, tax, deadline, deadline)
    domain.check_submission(tax_item, TASKFORCE, deadline, deadline)
    with pytest.raises(Forbidden):
        domain.check_submission(tax_item, APPROVAL, deadline, deadline)
    with pytest.raises(Conflict):
        domain.check_submission(tax_item, tax, deadline + dt.timedelta(seconds=1), deadline)
    with pytest.raises(NotFound):
        domain.check_submission(None, tax, deadline, deadline)


def test_the_bottom_group_twice_in_a_row_is_called_for_a_talk():
    # rule: SCO-5
    latest = [{"department": d} for d in ("a", "b", "c", "d", "e")]
    previous = [{"department": d} for d in ("c", "e", "a", "d", "b")]
    assert domain.bottom_twice(latest, previous, 2) == ["d"]
    assert domain.bottom_twice(latest, previous, 3) == ["d"]
    assert domain.bottom_twice(latest, previous, 4) == ["b", "d", "e"]
    assert domain.bottom_twice(latest, previous, 0) == []


# -- SCO-6 ---------------------------------------------------------------------------------

def test_a_session_is_scored_by_enterprises_while_open_and_for_its_departments():
    # rule: SCO-6
    live = SimpleNamespace(status="open", departments=["approval", "tax"])
    domain.check_session_score(live, "tax", ENT_A)
    with pytest.raises(Forbidden):
        domain.check_session_score(live, "tax", TASKFORCE)
    with pytest.raises(BadInput):
        domain.check_session_score(live, "market", ENT_A)
    live.status = "closed"
    with pytest.raises(Conflict):
        domain.check_session_score(live, "tax", ENT_A)


def test_the_board_orders_by_mean_then_count_then_code():
    # rule: SCO-6
    board = domain.board([("tax", 1, 90), ("approval", 2, 180), ("hr", 2, 150), ("x", 0, 0)])
    assert [(r["department"], r["place"]) for r in board] == [
        ("approval", 1), ("tax", 2), ("hr", 3)]


def test_the_board_revision_grows_with_each_score_and_at_the_close():
    # rule: SCO-6
    totals = [("tax", 2, 150), ("hr", 1, 60)]
    assert domain.board_revision([], "open") == 0
    assert domain.board_revision(totals, "open") == 3
    assert domain.board_revision(totals, "closed") == 4


# -- SCO-7 ---------------------------------------------------------------------------------

def stats(**kw):
    base = dict.fromkeys(domain.WORK_FIELDS, 0)
    base.update(kw)
    return base


def test_the_composite_score_weighs_the_work_itself():
    # rule: SCO-7
    w = domain.DEFAULT_WEIGHTS
    assert domain.composite(stats(), w) == 80.0  # nothing late, nobody dissatisfied
    assert domain.composite(stats(replied=4, replied_on_time=3, rated=2, rating_total=6), w) == \
        round(40 * 0.75 + 40 * 0.6, 2)
    assert domain.composite(stats(overdue=2, quiet_day_violations=1, cap_violations=1,
                                  late_filings=1), w) == 80 - 4 - 5 - 5 - 3
    heavier = {**w, "late_filings": -10.0}
    assert domain.composite(stats(late_filings=1), heavier) == 70.0


def test_red_and_black_lists_do_not_overlap_and_ties_go_by_code():
    # rule: SCO-7
    policy = domain.Policy(red_list=2, black_list=2)
    lists = domain.red_black_lists({"a": 90, "b": 90, "c": 50, "d": 10, "e": 70}, policy)
    assert lists == {"red": ["a", "b"], "black": ["d", "c"]}
    assert domain.red_black_lists({"a": 1}, policy) == {"red": ["a"], "black": []}
