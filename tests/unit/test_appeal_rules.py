"""The appeal rules without broker or database: routing, tiers, the closed
loop, rating, the ladder."""
import datetime as dt
from dataclasses import dataclass, field

import pytest

from kernel.calendar import WorkingCalendar
from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from kernel.rpc import SYSTEM, Caller
from services.appeals import domain

UTC = dt.timezone.utc
CAL = WorkingCalendar()
POLICY = domain.Policy()
DEPTS = {"approval", "market", "tax", "taskforce"}
ENT = Caller(role="enterprise", sub="u", org="91433126MA4L00010B")
OTHER_ENT = Caller(role="enterprise", sub="v", org="91433126MA4L00020C")
APPROVAL = Caller(role="department", sub="c", org="approval")
MARKET = Caller(role="department", sub="m", org="market")
TF = Caller(role="taskforce", sub="t", org="taskforce")
TABLE = [domain.Route("permit", "*", "approval", ("market",)),
         domain.Route("permit", "park", "market", ())]


@dataclass
class A:
    channel: str = "mini_program"
    category: str = "permit"
    town: str = "hongshi"
    enterprise_code: str = ENT.org
    created_by: str = "u"
    received_at: dt.datetime = dt.datetime(2026, 9, 29, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    tier: str = ""
    status: str = ""
    lead_department: str | None = None
    co_departments: list = field(default_factory=list)
    due_at: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    replied_at: dt.datetime | None = None
    replied_on_time: bool | None = None
    reply_content: str | None = None
    rating: int | None = None
    rating_comment: str | None = None
    rated_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    under_review: bool = False
    reopen_count: int = 0
    instructions: int = 0
    extensions: int = 0
    extension_request: dict | None = None
    escalation_level: int = 0
    next_check_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


def received(**kw):
    a = A(**kw)
    domain.receive(a, TABLE, "yellow", a.received_at, CAL, POLICY, ENT)
    return a


def at(y, m, d, h=10):
    return dt.datetime(y, m, d, h, tzinfo=UTC)


# -- routing ---------------------------------------------------------------------

def test_category_and_town_decide_lead_and_co_departments():
    # rule: APP-2
    a = received()
    assert (a.status, a.lead_department, a.co_departments) == ("assigned", "approval", ["market"])
    b = received(town="park")
    assert b.lead_department == "market"  # the town's own row beats the catch-all
    c = received(category="other")
    assert (c.status, c.lead_department) == ("received", None)  # task force queue


def test_routing_table_is_data():
    # rule: APP-2
    assert domain.route("permit", "x", []) is None
    assert domain.route("tax", "x", [domain.Route("tax", "*", "tax")]).lead_department == "tax"


# -- tiers and deadlines ---------------------------------------------------------------

def test_tier_sets_the_deadline_in_working_days_across_national_day():
    # rule: APP-3
    # rule: APP-4
    a = received()  # yellow: 5 working days from Tue 29 Sep 2026
    assert a.tier == "yellow"
    assert CAL.local_date(a.due_at) == dt.date(2026, 10, 12)
    red = received(channel="leaders_wechat")  # the leaders' line is red: 3 days
    assert red.tier == "red" and CAL.local_date(red.due_at) == dt.date(2026, 10, 9)
    blue = A()
    domain.receive(blue, TABLE, "blue", blue.received_at, CAL, POLICY, ENT)
    assert CAL.local_date(blue.due_at) == dt.date(2026, 9, 30)  # 立行立改: next working day


def test_one_tap_appointment_is_due_in_three_working_days():
    # rule: APP-4
    a = received(channel="one_tap")
    assert CAL.local_date(a.due_at) == dt.date(2026, 10, 9)  # 30 Sep, 8 Oct, 9 Oct


def test_task_force_can_change_the_tier_and_the_deadline_follows():
    # rule: APP-3
    a = received()
    domain.apply(a, "assign", {"department": "market", "tier": "red"}, TF, at(2026, 9, 29), CAL, POLICY, DEPTS)
    assert a.tier == "red" and CAL.local_date(a.due_at) == dt.date(2026, 10, 9)


# -- the closed loop ------------------------------------------------------------------

def test_whole_loop_and_history():
    # rule: APP-6
    a = received()
    e1 = domain.apply(a, "accept", {}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)
    e2 = domain.apply(a, "reply", {"content": "done"}, APPROVAL, at(2026, 10, 8), CAL, POLICY, DEPTS)
    assert a.replied_on_time
    e3 = domain.apply(a, "feedback", {"rating": 5}, ENT, at(2026, 10, 9), CAL, POLICY, DEPTS)
    assert a.status == "closed" and a.closed_at == at(2026, 10, 9) and a.next_check_at is None
    steps = [(h["from_status"], h["to_status"]) for e in (e1, e2, e3) for h in e.history]
    assert steps == [("assigned", "accepted"), ("accepted", "replied"), ("replied", "closed")]
    assert ("appeal.closed", {"closed_at": at(2026, 10, 9), "reason": "feedback"}) in e3.events


@pytest.mark.parametrize("action,params,caller", [
    ("reply", {"content": "x"}, APPROVAL),       # not accepted yet
    ("feedback", {"rating": 5}, ENT),            # not replied yet
    ("reopen", {"reason": "x"}, TF),             # not closed
    ("close_timeout", {}, SYSTEM),               # not replied
])
def test_illegal_transitions_are_refused_and_change_nothing(action, params, caller):
    # rule: APP-6
    a = received()
    before = dict(vars(a))
    with pytest.raises(Conflict):
        domain.apply(a, action, params, caller, at(2026, 9, 30), CAL, POLICY, DEPTS)
    assert vars(a) == before


def test_only_the_right_people_act():
    # rule: APP-6
    a = received()
    with pytest.raises(Forbidden):
        domain.apply(a, "accept", {}, MARKET, at(2026, 9, 30), CAL, POLICY, DEPTS)  # co-handler
    with pytest.raises(NotFound):
        domain.apply(a, "feedback", {"rating": 5}, OTHER_ENT, at(2026, 9, 30), CAL, POLICY, DEPTS)
    with pytest.raises(Forbidden):
        domain.apply(a, "instruct", {"content": "x"}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)


def test_transfer_return_and_unknown_department():
    # rule: APP-6
    a = received()
    domain.apply(a, "transfer", {"department": "tax", "reason": "r"}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)
    assert (a.status, a.lead_department) == ("assigned", "tax")
    with pytest.raises(BadInput) as err:
        domain.apply(a, "transfer", {"department": "nowhere", "reason": "r"},
                     Caller(role="department", sub="t", org="tax"), at(2026, 9, 30), CAL, POLICY, DEPTS)
    assert "department" in err.value.errors
    domain.apply(a, "return", {"reason": "not ours"}, Caller(role="department", sub="t", org="tax"),
                 at(2026, 9, 30), CAL, POLICY, DEPTS)
    assert (a.status, a.lead_department) == ("received", None)


def test_extension_asked_by_department_waits_for_task_force():
    # rule: APP-6
    a = received()
    due = a.due_at
    domain.apply(a, "extend", {"days": 2, "reason": "r"}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)
    assert a.due_at == due and a.extension_request["days"] == 2
    with pytest.raises(Conflict):
        domain.apply(a, "extend", {"days": 1, "reason": "again"}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)
    domain.apply(a, "approve_extension", {}, TF, at(2026, 9, 30), CAL, POLICY, DEPTS)
    assert CAL.local_date(a.due_at) == dt.date(2026, 10, 14)  # 12 Oct + 2 working days
    with pytest.raises(BadInput):
        domain.apply(a, "extend", {"days": 99, "reason": "r"}, TF, at(2026, 9, 30), CAL, POLICY, DEPTS)


def test_instruction_is_recorded_without_changing_status():
    # rule: APP-6
    a = received()
    e = domain.apply(a, "instruct", {"content": "请速办 —— 书记"}, TF, at(2026, 9, 30), CAL, POLICY, DEPTS)
    assert a.status == "assigned" and e.history[0]["note"] == "请速办 —— 书记"
    assert not [t for t, _ in e.events if t == "appeal.status_changed"]


# -- rating ------------------------------------------------------------------------------

@pytest.mark.parametrize("rating,status", [(5, "closed"), (4, "closed"), (3, "closed"),
                                           (2, "accepted"), (1, "accepted")])
def test_dissatisfied_rating_reopens_for_review(rating, status):
    # rule: APP-7
    a = received()
    domain.apply(a, "accept", {}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)
    domain.apply(a, "reply", {"content": "x"}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)
    e = domain.apply(a, "feedback", {"rating": rating}, ENT, at(2026, 10, 8), CAL, POLICY, DEPTS)
    assert a.status == status
    types = [t for t, _ in e.events]
    assert ("appeal.review_opened" in types) == (rating <= 2)
    assert a.under_review == (rating <= 2)
    if rating <= 2:  # a fresh deadline from the re-opening
        assert CAL.local_date(a.due_at) == CAL.add_working_days(dt.date(2026, 10, 8), 5)


def test_reply_without_feedback_closes_after_the_timeout():
    # rule: APP-6
    a = received()
    domain.apply(a, "accept", {}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)
    domain.apply(a, "reply", {"content": "x"}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)
    # 5 working days: 8, 9, Sat 10 (调休), 12, 13 Oct
    assert CAL.local_date(a.next_check_at) == dt.date(2026, 10, 13)
    e = domain.apply(a, "close_timeout", {}, SYSTEM, a.next_check_at, CAL, POLICY)
    assert a.status == "closed" and ("appeal.closed" in [t for t, _ in e.events])


# -- the ladder ----------------------------------------------------------------------------

def test_ladder_steps_fall_due_in_working_days_relative_to_the_deadline():
    # rule: APP-5
    a = received()  # due end of Mon 12 Oct 2026
    assert CAL.local_date(a.next_check_at) == dt.date(2026, 10, 10)  # reminder: a working day before
    assert domain.due_steps(a, at(2026, 10, 9), CAL, POLICY) == []
    assert domain.due_steps(a, at(2026, 10, 11), CAL, POLICY) == [1]
    # 3 working days overdue on Thu 15 Oct (13, 14, 15): reminder, supervision, talk
    assert domain.due_steps(a, at(2026, 10, 15, 17), CAL, POLICY) == [1, 2, 3]
    assert domain.due_steps(a, at(2026, 10, 26, 17), CAL, POLICY) == [1, 2, 3, 4, 5]


def test_each_step_is_taken_once_and_the_ladder_ends():
    # rule: APP-5
    a = received()
    now = at(2026, 10, 15, 17)
    e = domain.climb(a, domain.due_steps(a, now, CAL, POLICY), now, CAL, POLICY)
    assert [t for t, _ in e.events] == ["appeal.due_soon", "appeal.escalated", "appeal.escalated"]
    assert [x["step"] for t, x in e.events if t == "appeal.escalated"] == ["supervision", "talk"]
    assert a.escalation_level == 3
    assert domain.due_steps(a, now, CAL, POLICY) == []  # nothing twice
    later = at(2026, 11, 30)
    domain.climb(a, domain.due_steps(a, later, CAL, POLICY), later, CAL, POLICY)
    assert a.escalation_level == 5 and a.next_check_at is None


def test_ladder_thresholds_are_configuration():
    # rule: APP-5
    strict = domain.Policy(ladder_offsets={"reminder": -2, "supervision": 0, "talk": 1,
                                           "notice": 2, "accountability": 3})
    a = A()
    domain.receive(a, TABLE, "yellow", a.received_at, CAL, strict, ENT)
    assert domain.due_steps(a, at(2026, 10, 15, 17), CAL, strict) == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError):
        domain.Policy(ladder_offsets={"reminder": 5, "supervision": 0, "talk": 1, "notice": 2,
                                      "accountability": 3})


def test_replied_appeal_does_not_climb():
    # rule: APP-5
    a = received()
    domain.apply(a, "accept", {}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)
    domain.apply(a, "reply", {"content": "x"}, APPROVAL, at(2026, 9, 30), CAL, POLICY, DEPTS)
    assert domain.due_steps(a, at(2026, 12, 1), CAL, POLICY) == []


# -- visibility --------------------------------------------------------------------------------

def test_each_caller_sees_only_what_is_theirs():
    # rule: GW-2
    a = received()
    assert domain.can_see(a, ENT) and not domain.can_see(a, OTHER_ENT)
    assert domain.can_see(a, APPROVAL) and domain.can_see(a, MARKET)  # lead and co-handler
    assert not domain.can_see(a, Caller(role="department", sub="x", org="tax"))
    assert domain.can_see(a, TF)


# -- rectification and the ledger's calendar ----------------------------------------------------

@dataclass
class Item:
    lead_department: str = "approval"
    deadline: dt.date = dt.date(2026, 12, 31)
    status: str = "open"
    done_at: dt.datetime | None = None
    done_note: str | None = None
    on_time: bool | None = None


def test_rectification_item_is_ticked_off_once_by_its_lead_department():
    # rule: APP-9
    item = Item()
    with pytest.raises(Forbidden):
        domain.tick_off(item, MARKET, "not mine", at(2026, 12, 1))
    assert item.status == "open"
    domain.tick_off(item, APPROVAL, "已整改", at(2026, 12, 31, 15))  # 23:00 Shanghai, still the 31st
    assert (item.status, item.on_time, item.done_note) == ("done", True, "已整改")
    with pytest.raises(Conflict):
        domain.tick_off(item, TF, "again", at(2027, 1, 2))
    late = Item()
    domain.tick_off(late, TF, "迟了", at(2026, 12, 31, 17))  # 01:00 on 1 Jan in Shanghai
    assert late.on_time is False


def test_statistics_months_are_shanghai_calendar_months():
    # rule: APP-8
    from services.appeals.ledger import month_bounds
    start, end = month_bounds("2026-12")
    assert start == dt.datetime(2026, 11, 30, 16, tzinfo=UTC)
    assert end == dt.datetime(2026, 12, 31, 16, tzinfo=UTC)


def test_a_rectification_lists_progress_counts_its_items():
    # rule: APP-9
    from services.appeals.domain import rectification_progress
    items = [{"status": "done", "on_time": True, "overdue": False},
             {"status": "done", "on_time": False, "overdue": False},
             {"status": "open", "on_time": None, "overdue": True},
             {"status": "open", "on_time": None, "overdue": False}]
    assert rectification_progress(items) == {"total": 4, "done": 2, "open": 2, "overdue": 1,
                                             "done_on_time": 1, "percent_done": 50.0}
    assert rectification_progress(items[:3])["percent_done"] == 66.7
    assert rectification_progress([])["percent_done"] == 0.0
