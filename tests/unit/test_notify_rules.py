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


# -- the whole table, exactly (who, on what, how urgently) ------------------------------------

def _table(event, data):
    p = domain.plan(event, data, taskforce="tf")
    return sorted((n.recipient.ref, n.channel, n.urgent) for n in p.notices), p.departments


@pytest.mark.parametrize("event,data,expected", [
    ("appeal.created", {"channel": "one_tap", "lead_department": "tax"},
     [("official:tax:head", "inbox", True), ("official:tax:head", "sms", True)]),
    ("appeal.assigned", {"channel": "one_tap", "lead_department": "hr", "previous_department": "tax"},
     [("official:hr:head", "inbox", True), ("official:hr:head", "sms", True)]),
    ("appeal.due_soon", {"lead_department": "tax"},
     [("official:tax:deadline_contact", "inbox", False), ("official:tax:deadline_contact", "sms", False)]),
    ("appeal.escalated", {"lead_department": "tax", "step": "supervision"},
     [("official:tax:deadline_contact", "inbox", False), ("official:tax:deadline_contact", "sms", False)]),
    ("appeal.escalated", {"lead_department": "tax", "step": "notice"},
     [("official:tax:deadline_contact", "inbox", False), ("official:tax:deadline_contact", "sms", False),
      ("official:tax:head", "email", False), ("official:tax:head", "inbox", False),
      ("official:tax:head", "sms", False),
      ("official:tf:taskforce_head", "email", False), ("official:tf:taskforce_head", "inbox", False)]),
    ("appeal.status_changed", {"enterprise_code": CODE_A, "to_status": "closed"},
     [(f"enterprise:{CODE_A}:contact", "inbox", False), (f"enterprise:{CODE_A}:contact", "wechat", False)]),
    ("appeal.replied", {"enterprise_code": CODE_A},
     [(f"enterprise:{CODE_A}:contact", "inbox", False), (f"enterprise:{CODE_A}:contact", "sms", False)]),
    ("inspection.rejected", {"enterprise_code": CODE_A, "department": "market"},
     [(f"enterprise:{CODE_A}:contact", "inbox", False), (f"enterprise:{CODE_A}:contact", "wechat", False)]),
    ("rating.bad", {"department": "tax"},
     [("official:tax:head", "inbox", False), ("official:tax:head", "sms", False)]),
    ("card.issued", {"department": "tax"},
     [("official:tax:head", "email", False), ("official:tax:head", "inbox", False),
      ("official:tax:head", "sms", False), ("official:tf:taskforce_head", "inbox", False)]),
    ("followup.overdue", {"department": "tax"},
     [("official:tax:deadline_contact", "inbox", False), ("official:tax:deadline_contact", "sms", False),
      ("official:tax:head", "inbox", False)]),
    ("ranking.published", {},
     [("official:tf:taskforce_head", "email", False), ("official:tf:taskforce_head", "inbox", False)]),
    ("followup.overdue", {}, []),
    ("rating.bad", {}, []),
    ("card.issued", {}, []),
    ("appeal.due_soon", {}, []),
    ("appeal.escalated", {"step": "talk"}, []),
    ("appeal.replied", {}, []),
    ("appeal.created", {"channel": "one_tap"}, []),
    ("enterprise.upserted", {"department": "tax"}, []),
])
def test_the_whole_table_of_who_is_told(event, data, expected):
    # rule: NOT-1, NOT-2
    assert _table(event, data)[0] == expected


def test_what_an_event_is_about():
    # rule: GW-3
    assert _table("appeal.created", {"lead_department": "tax", "co_departments": ["hr", "tax"]})[1] == ("tax", "hr")
    assert _table("inspection.approved", {"department": "market", "departments": ["market", "ecology"]})[1] == \
        ("market", "ecology")
    assert _table("rating.bad", {"department": "tax"})[1] == ("tax",)
    assert _table("ranking.published", {})[1] == ()


def test_recipients_and_their_inboxes():
    # rule: NOT-3
    assert domain.official("tax", "head") == domain.Recipient("official", "tax", "head")
    assert domain.official("tax", "head").inbox_owner == ("department", "tax")
    assert domain.enterprise(CODE_A) == domain.Recipient("enterprise", CODE_A, "contact")
    assert domain.enterprise(CODE_A).inbox_owner == ("enterprise", CODE_A)


def test_sms_window_is_the_last_hour_exactly():
    # rule: NOT-3
    now = dt.datetime(2026, 12, 2, 10, tzinfo=UTC)
    assert domain.sms_allowed([now - domain.HOUR], now, 1) == (True, None)
    assert domain.sms_allowed([now - domain.HOUR + dt.timedelta(seconds=1)], now, 1)[0] is False


def test_licence_due_on_the_mark_and_on_the_last_day():
    # rule: NOT-2
    today = dt.date(2026, 12, 1)
    assert domain.licence_reminders_due(today + dt.timedelta(days=30), today, [30, 7], set()) == [30]
    assert domain.licence_reminders_due(today + dt.timedelta(days=7), today, [30, 7], {30}) == [7]
    assert domain.licence_reminders_due(today, today, [30, 7], {30}) == [7]


def test_csv_fields_are_trimmed_and_bounded():
    # rule: NOT-2
    text = ("credit_code,licence_no,name,expires_on\n"
            f" {CODE_A} , A1 , 许可证 , 2027-01-01 \n"
            f"{CODE_A},{'x' * 65},{'名' * 101},2027-01-01\n"
            f"{CODE_A},{'x' * 64},{'名' * 100},2027-01-01\n")
    rows, errors = domain.parse_licences(text, _valid)
    assert rows[0] == {"credit_code": CODE_A, "licence_no": "A1", "name": "许可证",
                       "expires_on": dt.date(2027, 1, 1)}
    assert len(rows) == 2 and rows[1]["licence_no"] == "x" * 64
    assert errors == [{"line": 3, "errors": {"licence_no": ["required, at most 64 characters"],
                                             "name": ["required, at most 100 characters"]}}]
    missing = domain.parse_licences("credit_code,name\n", _valid)
    assert missing == ([], [{"line": 1, "errors": {"licence_no": ["missing column"],
                                                   "expires_on": ["missing column"]}}])


def test_contact_csv_trims_and_keeps_empty_fields_empty():
    # rule: NOT-2
    text = ("credit_code,phone,email,wechat_openid\n"
            f" {CODE_A} , , , \n"
            f"{CODE_A},,a b@c.cn,{'o' * 65}\n"
            f"{CODE_A},,{'a' * 196}@c.cn,{'o' * 64}\n"
            f"bad,,,\n")
    rows, errors = domain.parse_contacts(text, _valid, lambda v: v)
    assert rows[0] == {"credit_code": CODE_A, "phone": None, "email": None, "wechat_openid": None}
    assert errors == [
        {"line": 3, "errors": {"email": ["not an e-mail address"], "wechat_openid": ["at most 64 characters"]}},
        {"line": 4, "errors": {"email": ["not an e-mail address"]}},
        {"line": 5, "errors": {"credit_code": ["not a valid unified social credit code"]}}]
    missing = domain.parse_contacts("credit_code\n", _valid, lambda v: v)
    assert missing == ([], [{"line": 1, "errors": {"phone": ["missing column"], "email": ["missing column"],
                                                   "wechat_openid": ["missing column"]}}])


@pytest.mark.parametrize("address", ["224.0.0.1", "240.0.0.1", "0.0.0.0", "::", "ff02::1", "100.64.0.1"])
def test_special_addresses_refused(address):
    # rule: GW-3
    with pytest.raises(domain.TargetRefused):
        domain.check_webhook_target("https://x.test/h", [address], [], production=False)


def test_refusals_say_why():
    # rule: GW-3
    cases = [("ftp://x.test/h", ["8.8.8.8"], "http(s) URL with a host"),
             ("http:///h", ["8.8.8.8"], "http(s) URL with a host"),
             ("http://x.test/h", ["8.8.8.8"], "https"),
             ("https://u@x.test/h", ["8.8.8.8"], "credentials"),
             ("https://x.test/h", [], "does not resolve"),
             ("https://x.test/h", ["10.0.0.1"], "10.0.0.1 is not public")]
    for url, addresses, reason in cases:
        with pytest.raises(domain.TargetRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
            domain.check_webhook_target(url, addresses, [], production=url.startswith("http://x"))
    # a mapped loopback is loopback; an allow-listed host name is matched case-insensitively
    with pytest.raises(domain.TargetRefused, match="127.0.0.1"):
        domain.check_webhook_target("https://x.test/h", ["::ffff:127.0.0.1"], [], production=False)
    domain.check_webhook_target("https://Hooks.Internal/h", ["10.0.0.1"],
                                domain.parse_allow_list(["HOOKS.internal"]), production=True)
    assert domain.parse_allow_list(None) == []
    assert domain.parse_allow_list(["10.0.0.0/8"]) == [ipaddress.ip_network("10.0.0.0/8")]


def test_masks_exactly():
    # rule: NOT-3
    assert domain.mask_address("sms", "+8613800000001") == "+86138****0001"
    assert domain.mask_address("sms", "13800000001") == "138****0001"
    assert domain.mask_address("sms", "12345678") == "****"
    assert domain.mask_address("email", "a@b.cn") == "a***@b.cn"
    assert domain.mask_address("email", "no-at-sign") == "no-a…"
    assert domain.mask_address("wechat", "openid123") == "open…"
    assert domain.mask_address("wechat", "oid") == "…"
    assert domain.mask_address("sms", "") == "" and domain.mask_address("sms", None) is None
    assert domain.mask_address("webhook", "http://h.example:8080/x") == "http://h.example/…"


def test_mutation_survivors_that_were_real_gaps():
    # rule: GW-3, NOT-1, NOT-2
    allow = domain.parse_allow_list(["127.0.0.1/32", "10.1.2.3/8"])  # a host address as a network
    assert allow[1] == ipaddress.ip_network("10.0.0.0/8")
    with pytest.raises(domain.TargetRefused, match="192.168.0.1"):  # every answer must pass
        domain.check_webhook_target("http://x.test/", ["127.0.0.1", "192.168.0.1"], allow, production=False)
    top = _table("appeal.escalated", {"lead_department": "tax", "step": "accountability"})[0]
    assert ("official:tf:taskforce_head", "email", False) in top
    assert domain.mask_address("sms", "123456789") == "1****6789"
    assert domain.mask_address("wechat", "abcd") == "…" and domain.mask_address("wechat", "abcde") == "abcd…"
    assert domain.mask_address("email", "a@b@c.cn") == "a***@b@c.cn"
    rows, errors = domain.parse_contacts(f"credit_code,phone,email,wechat_openid\n{CODE_A},,{'a' * 195}@c.cn,\n",
                                         _valid, lambda v: v)
    assert errors == [] and len(rows[0]["email"]) == 200
    _, errors = domain.parse_licences("credit_code,licence_no,name,expires_on\n,,,\n", _valid)
    assert errors == [{"line": 2, "errors": {"credit_code": ["not a valid unified social credit code"],
                                             "licence_no": ["required, at most 64 characters"],
                                             "name": ["required, at most 100 characters"],
                                             "expires_on": ["not a date (YYYY-MM-DD)"]}}]
