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
