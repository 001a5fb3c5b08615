"""The notify rules as plain functions (no broker, no database)."""
import datetime as dt
import ipaddress

import pytest

from kernel.calendar import SHANGHAI
from services.notify import domain
from services.notify.templates import TemplateProblem, Templates

UTC = dt.timezone.utc
CODE_A = "91433126MA4L00010B"


def sh(*args):
    return dt.datetime(*args, tzinfo=SHANGHAI)


# -- who is told (NOT-1, NOT-2) -------------------------------------------------------

def test_one_tap_appointment_tells_the_head_by_sms_at_once():
    # rule: NOT-1
    p = domain.plan("appeal.created", {"channel": "one_tap", "lead_department": "tax",
                                       "enterprise_code": CODE_A})
    assert domain.Notice(domain.official("tax", "head"), "sms", True) in p.notices
    assert all(n.urgent for n in p.notices)
    assert domain.plan("appeal.created", {"channel": "hotline_12345", "lead_department": "tax"}).notices == []
    # the first assignment comes with created: one SMS, not two; a transfer tells the new head
    assert domain.plan("appeal.assigned", {"channel": "one_tap", "lead_department": "tax",
                                           "previous_department": None}).notices == []
    moved = domain.plan("appeal.assigned", {"channel": "one_tap", "lead_department": "hr",
                                            "previous_department": "tax"})
    assert {n.recipient for n in moved.notices} == {domain.official("hr", "head")}


def test_escalation_steps_reach_more_people_as_they_climb():
    # rule: NOT-1
    low = domain.plan("appeal.escalated", {"lead_department": "tax", "step": "supervision"})
    high = domain.plan("appeal.escalated", {"lead_department": "tax", "step": "talk"})
    assert {n.recipient.role for n in low.notices} == {"deadline_contact"}
    assert {n.recipient.role for n in high.notices} == {"deadline_contact", "head", "taskforce_head"}
    assert not any(n.urgent for n in high.notices)


def test_enterprise_is_told_of_status_please_rate_and_entry_codes():
    # rule: NOT-2
    for event, data in [("appeal.status_changed", {"to_status": "accepted"}),
                        ("appeal.replied", {}), ("inspection.approved", {}), ("inspection.rejected", {})]:
        p = domain.plan(event, {"enterprise_code": CODE_A, **data})
        assert {n.recipient for n in p.notices} == {domain.enterprise(CODE_A)}, event
    assert domain.plan("appeal.status_changed", {"enterprise_code": CODE_A, "to_status": "assigned"}).notices == []


def test_scoring_events_name_the_department_people():
    # rule: NOT-1
    assert {n.recipient.key for n in domain.plan("rating.bad", {"department": "tax"}).notices} == {"tax"}
    card = domain.plan("card.issued", {"department": "tax"})
    assert domain.official("taskforce", "taskforce_head") in {n.recipient for n in card.notices}
    assert domain.plan("followup.overdue", {"department": "tax"}).notices
    assert domain.plan("ranking.published", {}).notices


def test_every_planned_channel_has_a_template():
    # rule: NOT-3
    t = Templates.load()
    samples = [("appeal.created", {"channel": "one_tap", "lead_department": "x"}),
               ("appeal.assigned", {"channel": "one_tap", "lead_department": "x",
                                    "previous_department": "y"}),
               ("appeal.due_soon", {"lead_department": "x"}),
               ("appeal.escalated", {"lead_department": "x", "step": "notice"}),
               ("appeal.status_changed", {"enterprise_code": CODE_A, "to_status": "replied"}),
               ("appeal.replied", {"enterprise_code": CODE_A}),
               ("inspection.approved", {"enterprise_code": CODE_A}),
               ("inspection.rejected", {"enterprise_code": CODE_A}),
               ("rating.bad", {"department": "x"}), ("card.issued", {"department": "x"}),
               ("followup.overdue", {"department": "x"}), ("ranking.published", {})]
    for event, data in samples:
        notices = domain.plan(event, data).notices
        assert notices, event
        for n in notices:
            assert t.has(event, n.channel), (event, n.channel)
    for kind in domain.PUSH_KINDS:
        for channel in domain.PUSH_CHANNELS:
            assert t.has(f"push.{kind}", channel)


def test_templates_refuse_undefined_variables_and_sandbox_escapes():
    # rule: NOT-3
    with pytest.raises(TemplateProblem, match="x.sms"):
        Templates({"x": {"sample": {}, "title": "t", "sms": "{{ missing }}"}})
    with pytest.raises(TemplateProblem):
        Templates({"x": {"sample": {}, "title": "t", "sms": "{{ ''.__class__.__mro__ }}"}})
    t = Templates({"x": {"sample": {"a": 1}, "title": "标题{{ a }}", "inbox": "正文{{ a }}"}})
    assert t.render("x", "inbox", {"a": 2}) == ("标题2", "正文2")
    with pytest.raises(TemplateProblem):
        t.render("x", "sms", {"a": 2})


def test_webhook_subscriber_sees_only_its_own_objects():
    # rule: GW-3
    p = domain.plan("appeal.created", {"channel": "x", "lead_department": "tax", "co_departments": ["hr"]})
    assert domain.webhook_visible("tax", p.departments)
    assert domain.webhook_visible("hr", p.departments)
    assert not domain.webhook_visible("market", p.departments)
    assert domain.webhook_visible("taskforce", p.departments)


# -- quiet hours ---------------------------------------------------------------------------

@pytest.mark.parametrize("now,expected", [
    (sh(2026, 12, 2, 21, 59), sh(2026, 12, 2, 21, 59)),
    (sh(2026, 12, 2, 22, 0), sh(2026, 12, 3, 8, 0)),
    (sh(2026, 12, 2, 23, 30), sh(2026, 12, 3, 8, 0)),
    (sh(2026, 12, 3, 0, 10), sh(2026, 12, 3, 8, 0)),
    (sh(2026, 12, 3, 7, 59), sh(2026, 12, 3, 8, 0)),
    (sh(2026, 12, 3, 8, 0), sh(2026, 12, 3, 8, 0)),
])
def test_no_sms_at_night_unless_urgent(now, expected):
    # rule: NOT-3
    assert domain.not_before("sms", False, now) == expected
    assert domain.not_before("wechat", False, now) == expected
    assert domain.not_before("sms", True, now) == now
    assert domain.not_before("email", False, now) == now
    assert domain.not_before("inbox", False, now) == now


# -- the SMS cap ------------------------------------------------------------------------------

def test_sms_cap_per_phone_per_hour():
    # rule: NOT-3
    now = dt.datetime(2026, 12, 2, 10, tzinfo=UTC)
    sent = [now - dt.timedelta(minutes=59 - i) for i in range(59)]
    assert domain.sms_allowed(sent, now, 60) == (True, None)
    sent.append(now)
    ok, until = domain.sms_allowed(sent, now, 60)
    assert not ok and until == sent[0] + domain.HOUR
    old = [now - dt.timedelta(hours=2)] * 100  # outside the window: not counted
    assert domain.sms_allowed(old, now, 60) == (True, None)


# -- retries ------------------------------------------------------------------------------------

def test_exponential_backoff_then_dead():
    # rule: NOT-3
    policy = domain.RetryPolicy(max_attempts=4, base_seconds=10, factor=2, cap_seconds=25)
    now = dt.datetime(2026, 12, 2, tzinfo=UTC)
    assert policy.after_failure(1, now) == (domain.FAILED, now + dt.timedelta(seconds=10))
    assert policy.after_failure(2, now) == (domain.FAILED, now + dt.timedelta(seconds=20))
    assert policy.after_failure(3, now) == (domain.FAILED, now + dt.timedelta(seconds=25))
    assert policy.after_failure(4, now) == (domain.DEAD, None)


# -- pushes --------------------------------------------------------------------------------------

def test_push_matches_each_tag_given():
    # rule: NOT-2
    tags = {"industry": ["food"], "size": ["small"], "town": []}
    assert domain.matches(tags, "food", "small", "park")
    assert not domain.matches(tags, "food", "above_scale", "park")
    assert not domain.matches(tags, "tourism", "small", "park")
    assert not domain.matches({"town": ["park"]}, "food", "small", None)
    assert domain.size_of(True) == "above_scale" and domain.size_of(False) == "small"


# -- webhook targets (no SSRF) ----------------------------------------------------------------------

@pytest.mark.parametrize("url,addresses", [
    ("http://x.test/h", ["127.0.0.1"]), ("http://x.test/h", ["10.0.0.5"]),
    ("http://x.test/h", ["169.254.169.254"]), ("http://x.test/h", ["::1"]),
    ("http://x.test/h", ["::ffff:127.0.0.1"]), ("http://x.test/h", ["fe80::1"]),
    ("http://x.test/h", ["8.8.8.8", "192.168.0.1"]),  # one private answer is enough
    ("http://x.test/h", []), ("file:///etc/passwd", ["8.8.8.8"]), ("gopher://x.test/", ["8.8.8.8"]),
    ("http://u:p@x.test/h", ["8.8.8.8"]), ("http://0.0.0.0/", ["0.0.0.0"]),
])
def test_webhook_targets_refused(url, addresses):
    # rule: GW-3
    with pytest.raises(domain.TargetRefused):
        domain.check_webhook_target(url, addresses, [], production=False)


def test_webhook_allow_list_and_https_in_production():
    # rule: GW-3
    allow = domain.parse_allow_list(["127.0.0.1/32", "hooks.internal"])
    assert isinstance(allow[0], ipaddress.IPv4Network) and allow[1] == "hooks.internal"
    domain.check_webhook_target("http://127.0.0.1:8080/h", ["127.0.0.1"], allow, production=False)
    domain.check_webhook_target("http://hooks.internal/h", ["10.0.0.1"], allow, production=False)
    domain.check_webhook_target("https://x.test/h", ["8.8.8.8"], [], production=True)
    with pytest.raises(domain.TargetRefused, match="https"):
        domain.check_webhook_target("http://x.test/h", ["8.8.8.8"], [], production=True)
    with pytest.raises(domain.TargetRefused):
        domain.check_webhook_target("http://127.0.0.2/h", ["127.0.0.2"], allow, production=False)


# -- licences ---------------------------------------------------------------------------------------

def _valid(code):
    return code == CODE_A


def test_licence_csv_bad_rows_by_line():
    # rule: NOT-2
    text = ("credit_code,licence_no,name,expires_on\n"
            f"{CODE_A},A1,食品经营许可证,2027-01-01\n"
            "bad,A2,x,2027-01-01\n"
            f"{CODE_A},,x,2027-02-30\n")
    rows, errors = domain.parse_licences(text, _valid)
    assert rows == [{"credit_code": CODE_A, "licence_no": "A1", "name": "食品经营许可证",
                     "expires_on": dt.date(2027, 1, 1)}]
    assert [(e["line"], sorted(e["errors"])) for e in errors] == [
        (3, ["credit_code"]), (4, ["expires_on", "licence_no"])]
    assert domain.parse_licences("a,b\n1,2\n", _valid)[1][0]["line"] == 1


def test_licence_reminders_once_per_mark_nearest_only():
    # rule: NOT-2
    today = dt.date(2026, 12, 1)
    assert domain.licence_reminders_due(dt.date(2026, 12, 25), today, [30, 7], set()) == [30]
    assert domain.licence_reminders_due(dt.date(2026, 12, 25), today, [30, 7], {30}) == []
    assert domain.licence_reminders_due(dt.date(2026, 12, 5), today, [30, 7], {30}) == [7]
    assert domain.licence_reminders_due(dt.date(2026, 12, 5), today, [30, 7], set()) == [7]
    assert domain.licence_reminders_due(dt.date(2027, 3, 1), today, [30, 7], set()) == []
    assert domain.licence_reminders_due(dt.date(2026, 11, 30), today, [30, 7], set()) == []


def test_contact_csv_checks_each_field():
    # rule: NOT-2
    def phone(v):
        if not v.startswith("139"):
            raise ValueError("bad")
        return "+86" + v
    text = ("credit_code,phone,email,wechat_openid\n"
            f"{CODE_A},13900000001,a@b.cn,o1\n"
            f"{CODE_A},12,nope,\n")
    rows, errors = domain.parse_contacts(text, _valid, phone)
    assert rows == [{"credit_code": CODE_A, "phone": "+8613900000001", "email": "a@b.cn",
                     "wechat_openid": "o1"}]
    assert errors == [{"line": 3, "errors": {"phone": ["not a valid phone number"],
                                             "email": ["not an e-mail address"]}}]


# -- personal data in logs -------------------------------------------------------------------------

def test_addresses_masked():
    # rule: NOT-3
    assert domain.mask_address("sms", "+8613800000001") == "+86138****0001"
    assert domain.mask_address("email", "zhang.san@example.com") == "z***@example.com"
    assert domain.mask_address("webhook", "https://h.example/secret/path?k=1") == "https://h.example/…"
    assert "openid123" not in domain.mask_address("wechat", "openid123")
