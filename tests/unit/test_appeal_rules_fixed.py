"""Unit tests of the appeal rules fixed in issue #10, and of rules whose wrong
versions (mutmut's mutants) the older unit tests let through."""
import datetime as dt

import pytest

from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from kernel.rpc import SYSTEM, Caller
from services.appeals import domain
from tests.unit.test_appeal_rules import (APPROVAL, CAL, DEPTS, ENT, MARKET, OTHER_ENT, POLICY,
                                          TABLE, TF, A, at, received)

UTC = dt.timezone.utc
NOW = at(2026, 12, 2, 3)
HOTLINE = Caller(role="channel", sub="key-1", org="hotline_12345")


def replied(a, when=at(2026, 9, 30)):
    domain.apply(a, "accept", {}, APPROVAL, when, CAL, POLICY, DEPTS)
    domain.apply(a, "reply", {"content": "x"}, APPROVAL, when, CAL, POLICY, DEPTS)
    return a


# -- 1. the ladder restarts after a re-open ----------------------------------------------

def test_item1_each_reopen_is_a_new_round_of_the_ladder():
    # rule: APP-5
    a = received()
    assert domain.escalation_round(a) == 0
    late = at(2026, 10, 30)
    domain.climb(a, domain.due_steps(a, late, CAL, POLICY), late, CAL, POLICY)
    assert a.escalation_level == 5 and a.next_check_at is None
    replied(a, late)
    domain.apply(a, "feedback", {"rating": 1}, ENT, late, CAL, POLICY, DEPTS)
    assert (a.escalation_level, domain.escalation_round(a)) == (0, 1)
    assert a.next_check_at is not None  # the ladder is watched again
    again = at(2026, 12, 30)
    assert domain.due_steps(a, again, CAL, POLICY) == [1, 2, 3, 4, 5]


def test_item1_a_failing_sweep_is_retried_later_and_later_up_to_a_cap():
    # rule: APP-5
    policy = domain.Policy(sweep_retry_seconds=60, sweep_retry_max_seconds=600)
    waits = [domain.sweep_retry_at(n, NOW, policy) - NOW for n in (0, 1, 2, 3, 4, 5, 20)]
    assert [w.total_seconds() for w in waits] == [60, 60, 120, 240, 480, 600, 600]


# -- 2. back-dating ---------------------------------------------------------------------

def test_item2_received_at_is_bounded_and_only_for_channels_that_record_it():
    # rule: APP-4
    bound = dt.timedelta(days=POLICY.received_at_max_days)
    domain.check_intake("hotline_12345", NOW - bound, HOTLINE, NOW, POLICY)  # the bound itself
    domain.check_intake("hotline_12345", NOW, HOTLINE, NOW, POLICY)  # now is not the future
    domain.check_intake("mini_program", None, ENT, NOW, POLICY)  # the platform's own time
    for channel, when, caller in (
            ("hotline_12345", NOW - bound - dt.timedelta(seconds=1), HOTLINE),
            ("hotline_12345", NOW + dt.timedelta(seconds=1), HOTLINE),
            ("mini_program", NOW - dt.timedelta(hours=1), ENT),
            ("one_tap", NOW - dt.timedelta(hours=1), TF)):
        with pytest.raises(BadInput) as err:
            domain.check_intake(channel, when, caller, NOW, POLICY)
        assert list(err.value.errors) == ["received_at"], (channel, when)
    assert "30 days" in str(pytest.raises(BadInput, domain.check_intake, "symposium",
                                          NOW - 2 * bound, TF, NOW, POLICY).value.errors)
    wide = domain.Policy(received_at_max_days=400)
    domain.check_intake("symposium", NOW - dt.timedelta(days=399), TF, NOW, wide)


# -- 4. channels by role ------------------------------------------------------------------

@pytest.mark.parametrize("caller,channel,allowed", [
    (ENT, "mini_program", True), (ENT, "one_tap", True), (ENT, "referral", True),
    (ENT, "leaders_wechat", False), (ENT, "hotline_12345", False), (ENT, "symposium", False),
    (APPROVAL, "symposium", True), (APPROVAL, "complaint_hotline", True),
    (APPROVAL, "mini_program", False), (APPROVAL, "one_tap", False),
    (TF, "mini_program", True), (TF, "leaders_wechat", True), (SYSTEM, "one_tap", True),
    (HOTLINE, "hotline_12345", True), (HOTLINE, "media", False),
    (Caller(role="stranger", org="x"), "mini_program", False),
])
def test_item4_each_role_files_through_its_own_channels(caller, channel, allowed):
    # rule: APP-1
    if allowed:
        domain.check_intake(channel, None, caller, NOW, POLICY)
    else:
        with pytest.raises(BadInput) as err:
            domain.check_intake(channel, None, caller, NOW, POLICY)
        assert list(err.value.errors) == ["channel"]


def test_item4_channels_are_configuration_and_checked():
    # rule: APP-1
    only_tap = domain.Policy(channels_by_role={"enterprise": ["one_tap"]})
    domain.check_intake("one_tap", None, ENT, NOW, only_tap)
    with pytest.raises(BadInput):
        domain.check_intake("mini_program", None, ENT, NOW, only_tap)
    with pytest.raises(BadInput):
        domain.check_intake("mini_program", None, TF, NOW, only_tap)  # not listed: nothing
    for bad in ({"channels_by_role": {"enterprise": ["carrier_pigeon"]}},
                {"backdating_channels": ("carrier_pigeon",)}):
        with pytest.raises(ValueError):
            domain.Policy(**bad)
    both = pytest.raises(BadInput, domain.check_intake, "one_tap", NOW - dt.timedelta(days=1),
                         APPROVAL, NOW, POLICY).value.errors
    assert set(both) == {"channel", "received_at"}  # every problem named at once


# -- under_review -------------------------------------------------------------------------

def test_under_review_ends_when_the_reopened_appeal_is_rated_satisfied():
    # rule: APP-7
    a = replied(received())
    domain.apply(a, "feedback", {"rating": 2}, ENT, at(2026, 10, 8), CAL, POLICY, DEPTS)
    assert a.under_review and a.status == "accepted" and a.reopen_count == 1
    domain.apply(a, "reply", {"content": "重办"}, APPROVAL, at(2026, 10, 9), CAL, POLICY, DEPTS)
    still = domain.apply(a, "feedback", {"rating": 1}, ENT, at(2026, 10, 9), CAL, POLICY, DEPTS)
    assert a.under_review and a.reopen_count == 2  # bad again: the review goes on
    assert "差评复核结束" not in still.history[0]["note"]
    domain.apply(a, "reply", {"content": "再办"}, APPROVAL, at(2026, 10, 12), CAL, POLICY, DEPTS)
    e = domain.apply(a, "feedback", {"rating": 3, "comment": "可以"}, ENT, at(2026, 10, 12), CAL,
                     POLICY, DEPTS)
    assert (a.status, a.under_review) == ("closed", False)
    assert e.history[0]["note"] == "3 basically_satisfied: 可以; 差评复核结束"


def test_under_review_ends_when_the_reopened_appeal_closes_without_a_word():
    # rule: APP-7
    a = replied(received())
    domain.apply(a, "feedback", {"rating": 1}, ENT, at(2026, 10, 8), CAL, POLICY, DEPTS)
    domain.apply(a, "reply", {"content": "重办"}, APPROVAL, at(2026, 10, 9), CAL, POLICY, DEPTS)
    e = domain.apply(a, "close_timeout", {}, SYSTEM, a.next_check_at, CAL, POLICY)
    assert (a.status, a.under_review) == ("closed", False)
    assert e.history[0]["note"].endswith("差评复核结束")
    plain = replied(received())
    e = domain.apply(plain, "close_timeout", {}, SYSTEM, plain.next_check_at, CAL, POLICY)
    assert e.history[0]["note"] == "企业未在期限内评价, 超时销号"


# -- rules whose wrong versions survived the older tests (mutation testing) -----------------

def events(effect, event_type):
    return [x for t, x in effect.events if t == event_type]


def test_policy_refuses_a_tier_without_days():
    # rule: APP-3
    with pytest.raises(ValueError, match="tier_days"):
        domain.Policy(tier_days={"red": 3, "yellow": 5})
    with pytest.raises(ValueError, match="ladder offsets"):
        domain.Policy(ladder_offsets={"reminder": -1, "supervision": 0, "talk": 3,
                                      "notice": 11, "accountability": 10})
    domain.Policy(ladder_offsets={"reminder": 0, "supervision": 0, "talk": 0, "notice": 0,
                                  "accountability": 0})  # equal steps: allowed


def test_tier_comes_from_the_channel_then_the_category_then_the_default():
    # rule: APP-3
    policy = domain.Policy(default_tier="blue", channel_tiers={"media": "red"})
    assert domain.initial_tier("media", "yellow", policy) == "red"
    assert domain.initial_tier("mini_program", "yellow", policy) == "yellow"
    assert domain.initial_tier("mini_program", None, policy) == "blue"
    a = A()
    domain.receive(a, TABLE, None, a.received_at, CAL, POLICY, ENT)
    assert a.tier == "yellow"


def test_one_tap_is_never_slower_than_its_tier():
    # rule: APP-4
    policy = domain.Policy(one_tap_days=3)
    for tier, days in (("blue", 1), ("red", 3), ("yellow", 3)):
        assert domain.handling_days(A(channel="one_tap", tier=tier), policy) == days
    assert domain.handling_days(A(channel="mini_program", tier="yellow"), policy) == 5
    assert domain.handling_days(A(channel="one_tap", tier="yellow"),
                                domain.Policy(one_tap_days=2)) == 2


def test_next_check_by_status():
    # rule: APP-5
    a = received()
    assert domain.next_check(a, CAL, POLICY) == domain.step_time(a, 1, CAL, POLICY)
    a.escalation_level = 4
    assert domain.next_check(a, CAL, POLICY) == domain.step_time(a, 5, CAL, POLICY)
    a.escalation_level = 5
    assert domain.next_check(a, CAL, POLICY) is None
    a.escalation_level, a.due_at = 0, None
    assert domain.next_check(a, CAL, POLICY) is None
    b = replied(received())
    assert domain.next_check(b, CAL, POLICY) == CAL.deadline(b.replied_at, 5)
    b.status = "closed"
    assert domain.next_check(b, CAL, POLICY) is None


def test_overdue_only_while_handled_and_past_the_deadline():
    # rule: APP-4
    a = received()
    assert not domain.is_overdue(a, a.due_at)  # at the deadline: still in time
    assert domain.is_overdue(a, a.due_at + dt.timedelta(seconds=1))
    for status in ("received", "assigned", "accepted"):
        a.status = status
        assert domain.is_overdue(a, at(2026, 11, 1))
    for status in ("replied", "closed"):
        a.status = status
        assert not domain.is_overdue(a, at(2026, 11, 1))
    a.status, a.due_at = "assigned", None
    assert not domain.is_overdue(a, at(2026, 11, 1))
    assert domain.overdue_working_days(a, at(2026, 11, 1), CAL) == 0


def test_overdue_working_days_count_only_working_days_after_the_deadline():
    # rule: APP-5
    a = received()  # due end of Mon 12 Oct
    assert domain.overdue_working_days(a, a.due_at, CAL) == 0
    assert domain.overdue_working_days(a, at(2026, 10, 13, 1), CAL) == 1
    assert domain.overdue_working_days(a, at(2026, 10, 15, 7), CAL) == 3  # 15:00 on the 15th
    assert domain.overdue_working_days(a, at(2026, 10, 15, 17), CAL) == 4  # 01:00 on the 16th
    assert domain.overdue_working_days(a, at(2026, 10, 19, 2), CAL) == 5  # the weekend is off


def test_each_step_is_recorded_and_announced_with_its_level():
    # rule: APP-5
    a = received()
    now = at(2026, 10, 15, 17)
    e = domain.climb(a, [1, 2, 3], now, CAL, POLICY)
    assert [(h["action"], h["actor"], h["from_status"], h["to_status"], h["note"])
            for h in e.history] == [
        ("escalate:reminder", "system", "assigned", "assigned", "到期提醒"),
        ("escalate:supervision", "system", "assigned", "assigned", "挂牌督办"),
        ("escalate:talk", "system", "assigned", "assigned", "约谈提醒")]
    assert events(e, "appeal.due_soon") == [{}]
    assert events(e, "appeal.escalated") == [
        {"level": 2, "step": "supervision", "overdue_working_days": 4},
        {"level": 3, "step": "talk", "overdue_working_days": 4}]
    assert a.next_check_at == domain.step_time(a, 4, CAL, POLICY)


def test_who_sees_an_appeal():
    # rule: GW-2
    a = received(channel="hotline_12345", created_by="key-1")
    assert domain.can_see(a, HOTLINE)
    # an API key belongs to its organisation (issue 13): the channel's new key
    # still sees what an earlier key filed
    assert domain.can_see(a, Caller(role="channel", sub="key-2", org="hotline_12345"))
    assert not domain.can_see(a, Caller(role="channel", sub="key-1", org="media"))
    assert not domain.can_see(a, Caller(role="department", sub="c", org="appr"))
    assert not domain.can_see(a, Caller(role="stranger", sub="u", org=ENT.org))
    assert domain.can_see(a, Caller(role="admin", sub="root"))
    assert str(refusal(NotFound, domain.check_visible, None, TF)) == "no such appeal"
    assert str(refusal(NotFound, domain.check_visible, a, OTHER_ENT)) == "no such appeal"
    domain.check_visible(a, ENT)


def test_a_refusal_says_why_and_changes_nothing():
    # rule: APP-6
    a = received()
    before = dict(vars(a))
    with pytest.raises(BadInput) as err:
        domain.apply(a, "fly", {}, TF, NOW, CAL, POLICY, DEPTS)
    assert err.value.errors["action"] == ["unknown action; one of " + ", ".join(domain.ACTIONS)]
    assert str(refusal(Forbidden, domain.apply, a, "accept", {}, MARKET, NOW, CAL, POLICY,
                       DEPTS)) == "a department may not accept this appeal"
    assert str(refusal(Forbidden, domain.apply, a, "reopen", {"reason": "x"}, ENT, NOW, CAL,
                       POLICY, DEPTS)) == "a enterprise may not reopen this appeal"
    with pytest.raises(Conflict) as err:
        domain.apply(a, "reply", {"content": "x"}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    assert str(err.value.args[0]) == "cannot reply an appeal that is assigned"
    assert err.value.args[1] == {"status": "assigned", "action": "reply",
                                 "allowed_from": ["accepted"]}
    assert vars(a) == before


def test_an_action_records_who_did_what_and_announces_a_change_of_status():
    # rule: APP-6
    a = received()
    e = domain.apply(a, "accept", {"note": "收到"}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    assert e.history == [{"action": "accept", "actor": "department:c", "from_status": "assigned",
                          "to_status": "accepted", "note": "收到"}]
    assert events(e, "appeal.status_changed") == [{
        "action": "accept", "from_status": "assigned", "to_status": "accepted",
        "actor": "department:c"}]
    assert (a.accepted_at, a.updated_at) == (NOW, NOW)
    keyless = Caller(role="taskforce", sub="", org="taskforce")
    e = domain.apply(a, "instruct", {"content": "速办"}, keyless, NOW, CAL, POLICY, DEPTS)
    assert e.history[0]["actor"] == "taskforce:taskforce"


def test_assign_routes_and_checks_every_department():
    # rule: APP-2
    a = received(category="other")  # the task force's queue
    due, tier = a.due_at, a.tier
    with pytest.raises(BadInput) as err:
        domain.apply(a, "assign", {"department": "tax", "co_departments": ["market", "nowhere"]},
                     TF, NOW, CAL, POLICY, DEPTS)
    assert err.value.errors == {"co_departments": ["unknown department 'nowhere'"]}
    with pytest.raises(BadInput) as err:
        domain.apply(a, "assign", {"department": "nowhere"}, TF, NOW, CAL, POLICY, DEPTS)
    assert err.value.errors == {"department": ["unknown department 'nowhere'"]}
    assert a.lead_department is None
    e = domain.apply(a, "assign", {"department": "tax", "co_departments": ["tax", "market"],
                                   "tier": None}, TF, NOW, CAL, POLICY, DEPTS)
    assert (a.status, a.lead_department, a.co_departments) == ("assigned", "tax", ["market"])
    assert (a.tier, a.due_at) == (tier, due)  # no tier given: deadline unchanged
    assert events(e, "appeal.assigned") == [{"previous_department": None}]
    assert e.history[0]["note"] == "→ tax"
    e = domain.apply(a, "assign", {"department": "approval", "note": "改派"}, TF, NOW, CAL,
                     POLICY, DEPTS)
    assert a.co_departments == ["market"]  # not given: kept
    assert events(e, "appeal.assigned") == [{"previous_department": "tax"}]
    assert e.history[0]["note"] == "改派"
    domain.apply(a, "assign", {"department": "approval", "tier": "yellow"}, TF, NOW, CAL,
                 POLICY, DEPTS)
    assert a.due_at == due  # the same tier: the same deadline


def test_transfer_hands_over_and_forgets_the_pending_extension():
    # rule: APP-6
    a = received()  # approval leads, market co-handles
    domain.apply(a, "extend", {"days": 2, "reason": "r"}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    with pytest.raises(BadInput) as err:
        domain.apply(a, "transfer", {"department": "approval", "reason": "r"}, APPROVAL, NOW,
                     CAL, POLICY, DEPTS)
    assert err.value.errors == {"department": ["already the lead department"]}
    e = domain.apply(a, "transfer", {"department": "market", "reason": "市场监管职责"}, APPROVAL,
                     NOW, CAL, POLICY, DEPTS)
    assert (a.lead_department, a.co_departments, a.extension_request) == ("market", [], None)
    assert e.history[0]["note"] == "approval → market: 市场监管职责"
    assert events(e, "appeal.assigned") == [{"previous_department": "approval"}]


def test_return_sends_it_back_to_the_queue():
    # rule: APP-6
    a = received()
    domain.apply(a, "extend", {"days": 1, "reason": "r"}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    e = domain.apply(a, "return", {"reason": "不归我们"}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    assert (a.status, a.lead_department, a.extension_request) == ("received", None, None)
    assert e.history[0]["note"] == "approval 退回: 不归我们"


def test_extensions_are_bounded_asked_granted_or_refused():
    # rule: APP-6
    a = received()
    due = a.due_at
    for days in (0, POLICY.max_extension_days + 1):
        with pytest.raises(BadInput) as err:
            domain.apply(a, "extend", {"days": days, "reason": "r"}, TF, NOW, CAL, POLICY, DEPTS)
        assert err.value.errors == {"days": ["must be 1 to 15 working days"]}
    for action in ("approve_extension", "reject_extension"):
        assert str(refusal(Conflict, domain.apply, a, action, {}, TF, NOW, CAL, POLICY,
                           DEPTS)) == "no extension is waiting for approval"
    e = domain.apply(a, "extend", {"days": 15, "reason": "材料多"}, APPROVAL, NOW, CAL, POLICY,
                     DEPTS)
    assert a.extension_request == {"days": 15, "reason": "材料多", "by": "approval",
                                   "at": NOW.isoformat()}
    assert e.history[0]["note"] == "申请延期 15 个工作日: 材料多"
    assert str(refusal(Conflict, domain.apply, a, "extend", {"days": 1, "reason": "r"},
                       APPROVAL, NOW, CAL, POLICY, DEPTS)) == (
        "an extension is already waiting for approval")
    e = domain.apply(a, "reject_extension", {"note": "不必"}, TF, NOW, CAL, POLICY, DEPTS)
    assert (a.extension_request, a.due_at, a.extensions) == (None, due, 0)
    assert e.history[0]["note"] == "不予延期: 不必"
    domain.apply(a, "extend", {"days": 1, "reason": "r"}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    e = domain.apply(a, "approve_extension", {"note": "同意"}, TF, NOW, CAL, POLICY, DEPTS)
    assert e.history[0]["note"] == "批准延期 1 个工作日: 同意"
    assert CAL.local_date(a.due_at) == dt.date(2026, 10, 13) and a.extensions == 1
    e = domain.apply(a, "extend", {"days": 1, "reason": "直接"}, TF, NOW, CAL, POLICY, DEPTS)
    assert e.history[0]["note"] == "延期 1 个工作日: 直接"  # the task force grants at once
    assert CAL.local_date(a.due_at) == dt.date(2026, 10, 14) and a.extensions == 2
    assert a.extension_request is None


def test_every_instruction_is_counted():
    # rule: APP-6
    a = received()
    for n in (1, 2, 3):
        domain.apply(a, "instruct", {"content": f"批示{n}"}, TF, NOW, CAL, POLICY, DEPTS)
        assert a.instructions == n


def test_a_late_reply_is_recorded_late():
    # rule: APP-4
    a = received()
    domain.apply(a, "accept", {}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)
    late = a.due_at + dt.timedelta(seconds=1)
    e = domain.apply(a, "reply", {"content": "迟复"}, APPROVAL, late, CAL, POLICY, DEPTS)
    assert (a.reply_content, a.replied_at, a.replied_on_time) == ("迟复", late, False)
    assert events(e, "appeal.replied") == [{"replied_at": late, "on_time": False}]
    assert e.history[0]["note"] == ""


def test_feedback_is_kept_and_a_bad_one_reopens_with_a_fresh_deadline():
    # rule: APP-7
    a = replied(received())
    when = at(2026, 10, 8)
    e = domain.apply(a, "feedback", {"rating": 2, "comment": ""}, ENT, when, CAL, POLICY, DEPTS)
    assert (a.rating, a.rating_comment, a.rated_at) == (2, None, when)
    assert events(e, "appeal.rated") == [{"rating": 2, "dissatisfied": True}]
    assert events(e, "appeal.review_opened") == [{"rating": 2}]
    assert e.history[0]["note"] == "2 dissatisfied"
    assert (a.escalation_level, a.reopen_count, a.closed_at) == (0, 1, None)
    assert a.due_at == CAL.deadline(when, 5)
    b = replied(received())
    e = domain.apply(b, "feedback", {"rating": 5, "comment": "好"}, ENT, when, CAL, POLICY, DEPTS)
    assert (b.rating_comment, b.closed_at, b.under_review) == ("好", when, False)
    assert events(e, "appeal.rated") == [{"rating": 5, "dissatisfied": False}]
    assert events(e, "appeal.closed") == [{"closed_at": when, "reason": "feedback"}]
    assert e.history[0]["note"] == "5 very_satisfied: 好"


def test_timeout_closes_and_the_task_force_can_reopen():
    # rule: APP-6
    a = replied(received())
    when = a.next_check_at
    e = domain.apply(a, "close_timeout", {}, SYSTEM, when, CAL, POLICY)
    assert (a.status, a.closed_at) == ("closed", when)
    assert events(e, "appeal.closed") == [{"closed_at": when, "reason": "timeout"}]
    later = at(2026, 11, 2)
    e = domain.apply(a, "reopen", {"reason": "回访发现未解决"}, TF, later, CAL, POLICY, DEPTS)
    assert (a.status, a.closed_at, a.reopen_count, a.escalation_level) == (
        "accepted", None, 1, 0)
    assert a.due_at == CAL.deadline(later, 5) and a.next_check_at is not None
    assert e.history[0]["note"] == "回访发现未解决"
    assert not a.under_review  # a re-open by the task force is not a bad rating


def test_intake_records_creation_and_routing():
    # rule: APP-1
    # rule: APP-2
    a = A(channel="symposium")
    e = domain.receive(a, [domain.Route("permit", "*", "approval", ("approval", "market"))],
                       None, a.received_at, CAL, POLICY, TF)
    assert (a.status, a.lead_department, a.co_departments) == ("assigned", "approval", ["market"])
    assert e.history == [
        {"action": "create", "actor": "taskforce:t", "from_status": None, "to_status": "received",
         "note": "企业座谈会"},
        {"action": "assign", "actor": "system:routing", "from_status": "received",
         "to_status": "assigned", "note": "→ approval"}]
    assert e.events == [
        ("appeal.created", {"received_at": a.received_at}),
        ("appeal.assigned", {"previous_department": None}),
        ("appeal.status_changed", {"action": "assign", "from_status": "received",
                                   "to_status": "assigned", "actor": "system:routing"})]
    assert (a.escalation_level, a.next_check_at) == (0, domain.step_time(a, 1, CAL, POLICY))
    b = A(category="other", co_departments=["stale"])
    e = domain.receive(b, TABLE, None, b.received_at, CAL, POLICY, ENT)
    assert (b.status, b.lead_department, b.co_departments) == ("received", None, [])
    assert [t for t, _ in e.events] == ["appeal.created"]


def test_a_rectification_refusal_says_why():
    # rule: APP-9
    from tests.unit.test_appeal_rules import Item
    item = Item()
    with pytest.raises(Forbidden):
        domain.tick_off(item, ENT, "x", NOW)
    when = at(2026, 12, 1)
    domain.tick_off(item, APPROVAL, "已整改", when)
    assert item.done_at == when
    with pytest.raises(Conflict, match="already ticked off"):
        domain.tick_off(item, APPROVAL, "again", when)


def refusal(exc_type, fn, *args):
    with pytest.raises(exc_type) as err:
        fn(*args)
    return err.value


def test_intake_refusals_tell_the_caller_what_to_do():
    # rule: APP-1
    # rule: APP-4
    assert refusal(BadInput, domain.check_intake, "leaders_wechat", None, ENT, NOW,
                   POLICY).errors == {
        "channel": ["a enterprise may not file through 'leaders_wechat'"]}
    assert refusal(BadInput, domain.check_intake, "mini_program", NOW, TF, NOW,
                   POLICY).errors == {
        "received_at": ["the platform records when a 'mini_program' appeal is received: "
                        "leave it out"]}
    assert refusal(BadInput, domain.check_intake, "media", NOW + dt.timedelta(days=1), TF, NOW,
                   POLICY).errors == {"received_at": ["is in the future"]}
    assert refusal(BadInput, domain.check_intake, "media", NOW - dt.timedelta(days=99), TF, NOW,
                   POLICY).errors == {"received_at": ["at most 30 days back"]}


def test_rectification_refusals_say_why_exactly():
    # rule: APP-9
    from tests.unit.test_appeal_rules import Item
    item = Item()
    assert str(refusal(Forbidden, domain.tick_off, item, MARKET, "x", NOW)) == (
        "only the lead department or the task force ticks an item off")
    domain.tick_off(item, TF, "done", NOW)
    assert str(refusal(Conflict, domain.tick_off, item, TF, "x", NOW)) == (
        "this item is already ticked off")


def test_a_step_falls_due_at_its_very_instant_and_a_weekend_is_not_overdue_time():
    # rule: APP-5
    a = received()
    first = domain.step_time(a, 1, CAL, POLICY)
    assert domain.due_steps(a, first, CAL, POLICY) == [1]
    assert domain.due_steps(a, first - dt.timedelta(microseconds=1), CAL, POLICY) == []
    a.due_at = CAL.end_of_day(dt.date(2026, 10, 16))  # a Friday
    assert domain.overdue_working_days(a, at(2026, 10, 17, 3), CAL) == 0  # Saturday: not yet


def test_policy_refusals_say_why():
    # rule: APP-5
    with pytest.raises(ValueError) as err:
        domain.Policy(ladder_offsets={"reminder": 1, "supervision": 0, "talk": 3, "notice": 5,
                                      "accountability": 10})
    assert str(err.value) == "ladder offsets must rise step by step"
    with pytest.raises(ValueError) as err:
        domain.Policy(backdating_channels=("fax", "media"))
    assert str(err.value) == "unknown channels in the policy: ['fax']"


def test_extension_decisions_without_a_note():
    # rule: APP-6
    a = received()
    domain.apply(a, "extend", {"days": 3, "reason": "r"}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    e = domain.apply(a, "approve_extension", {}, TF, NOW, CAL, POLICY, DEPTS)
    assert e.history[0]["note"] == "批准延期 3 个工作日"
    domain.apply(a, "extend", {"days": 3, "reason": "r"}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    e = domain.apply(a, "reject_extension", {"note": ""}, TF, NOW, CAL, POLICY, DEPTS)
    assert e.history[0]["note"] == "不予延期"


def test_routing_reads_the_whole_table():
    # rule: APP-2
    table = [domain.Route("permit", "*", "approval"), domain.Route("tax", "*", "tax"),
             domain.Route("tax", "park", "park_committee")]
    assert domain.route("tax", "moshi", table).lead_department == "tax"
    assert domain.route("tax", "park", table).lead_department == "park_committee"


def test_transfer_keeps_the_other_co_handlers_and_accept_has_no_note_of_its_own():
    # rule: APP-6
    a = received()
    a.co_departments = ["market", "tax"]
    e = domain.apply(a, "accept", {}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    assert e.history[0]["note"] == ""
    domain.apply(a, "transfer", {"department": "market", "reason": "r"}, APPROVAL, NOW, CAL,
                 POLICY, DEPTS)
    assert a.co_departments == ["tax"]


def test_a_reply_at_the_deadline_or_without_one_is_on_time():
    # rule: APP-4
    a = received()
    domain.apply(a, "accept", {}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    domain.apply(a, "reply", {"content": "x"}, APPROVAL, a.due_at, CAL, POLICY, DEPTS)
    assert a.replied_on_time is True
    b = received()
    domain.apply(b, "accept", {}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    b.due_at = None
    domain.apply(b, "reply", {"content": "x"}, APPROVAL, NOW, CAL, POLICY, DEPTS)
    assert b.replied_on_time is True
