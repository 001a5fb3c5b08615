"""The notify service through the real broker and database (NOT-1 … NOT-3, GW-3).

Events are published on the real RabbitMQ the way their owners' outbox relays
publish them; SMS go through Tencent Cloud's SDK and WeChat through wechatpy
to a local recording endpoint (services/notify/sandbox.py); e-mail goes over
real SMTP to aiosmtpd in a subprocess; webhooks are signed by the
``standardwebhooks`` library and verified with it.
"""
import datetime as dt
import logging
import mailbox
import subprocess
import sys
import time
import uuid

import pytest
from kombu import Connection, Producer
from nameko.testing.services import entrypoint_hook
from standardwebhooks import Webhook
from stdnum.cn import uscc

from kernel.calendar import SHANGHAI
from kernel.errors import BadInput, NotFound
from kernel.logs import JsonFormatter
from kernel.outbox import event_exchange
from services.notify.sandbox import Sandbox
from services.notify.service import Clock, NotifyService
from tests.conftest import ENTERPRISE_A, ENTERPRISE_B, free_port

pytestmark = pytest.mark.integration

HEAD_APPROVAL = "+8613800000001"  # config/county/demo.json contacts
PHONE_A = "+8613912340001"  # enterprise A's contact in the profile


def wait_until(predicate, timeout=15.0, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


@pytest.fixture
def sandbox():
    box = Sandbox().start()
    yield box
    box.stop()


@pytest.fixture
def notify(start_service, db_factory, sandbox):
    """``notify(**config)`` → the running container (shares one database per test)."""
    url = db_factory("notify")

    def start(**config):
        cfg = {"DB_URL": url, "SMS_ENDPOINT": sandbox.endpoint, "SMS_PROTOCOL": "http",
               "WECHAT_API_BASE": sandbox.url + "/cgi-bin/", "DISPATCH_INTERVAL_SECONDS": 0.1,
               "LICENCE_SWEEP_SECONDS": 3600, "SMTP_PORT": 1}
        cfg.update(config)
        return start_service(NotifyService, **cfg)

    return start


@pytest.fixture
def publish(amqp_uri):
    """Publish an event envelope on its owner's exchange, as the outbox relay does."""
    conn = Connection(amqp_uri)

    def send(source, event_type, data, event_id=None):
        envelope = {"event_id": event_id or str(uuid.uuid4()), "event_type": event_type,
                    "schema_version": 1, "occurred_at": "2026-12-02T02:00:00+00:00",
                    "source": source, "data": data}
        producer = Producer(conn.channel(), exchange=event_exchange(source), serializer="json")
        producer.publish(envelope, routing_key=event_type, delivery_mode=2, declare=[event_exchange(source)])
        return envelope

    yield send
    conn.release()


def appeal(appeal_id=1, channel="one_tap", lead="approval", enterprise=ENTERPRISE_A, **extra):
    return {"appeal_id": appeal_id, "status": "assigned", "tier": "red", "channel": channel,
            "category": "permit", "enterprise_code": enterprise, "lead_department": lead,
            "co_departments": [], "due_at": "2026-12-05T15:59:59+00:00",
            "received_at": "2026-12-02T02:00:00+00:00", **extra}


def clock_of(container):
    return next(d for d in container.dependencies if isinstance(d, Clock))


def deliveries(rpc, callers, **query):
    with rpc(callers["taskforce"]) as p:
        return p.notify.list_deliveries(query)


def test_one_tap_appointment_reaches_the_department_head_by_sms(notify, publish, sandbox, rpc, callers):
    # rule: NOT-1
    notify()
    publish("appeals", "appeal.created", appeal(7))
    sms = wait_until(lambda: sandbox.sms_to(HEAD_APPROVAL))
    assert len(sms) == 1
    assert sms[0]["authorized"]  # the SDK signed it (TC3-HMAC-SHA256)
    assert "一键约见" in sms[0]["params"][0] and "示范县茶业有限公司" in sms[0]["params"][0]
    # the head's department inbox has it; another department's has not (GW-2)
    with rpc(callers["approval"]) as p:
        inbox = wait_until(lambda: p.notify.list_inbox({})["items"])
        assert inbox[0]["event_type"] == "appeal.created"
        p.notify.mark_inbox(inbox[0]["id"], {"read": True})
        assert p.notify.list_inbox({"unread": True})["items"] == []
    with rpc(callers["market"]) as p:
        assert p.notify.list_inbox({})["items"] == []
        with pytest.raises(NotFound):
            p.notify.mark_inbox(inbox[0]["id"], {"read": False})
    # an appeal from another channel is no appointment: no SMS to the head
    publish("appeals", "appeal.created", appeal(8, channel="hotline_12345"))
    time.sleep(0.5)
    assert len(sandbox.sms_to(HEAD_APPROVAL)) == 1


def test_logs_never_hold_phones_or_emails(notify, publish, rpc, callers, caplog):
    # rule: NOT-3
    caplog.set_level(logging.INFO)
    notify(RETRY_BASE_SECONDS=0.05, RETRY_MAX_ATTEMPTS=2)  # no SMTP server: e-mails fail, are logged
    publish("appeals", "appeal.created", appeal(20))
    publish("appeals", "appeal.escalated", appeal(21, channel="hotline_12345", level=3,
                                                  step="notice", overdue_working_days=5))
    wait_until(lambda: len(deliveries(rpc, callers, channel="email", status="dead")["items"]) == 2)
    formatter = JsonFormatter()
    lines = "\n".join(formatter.format(r) for r in caplog.records)
    assert "delivery" in lines and "h***@demo-county.invalid" in lines  # the failures were logged, masked
    for secret in ("13800000001", "head.approval@", "head@taskforce"):
        assert secret not in lines


def test_night_time_message_waits_for_eight_in_the_morning(notify, publish, sandbox, rpc, callers):
    # rule: NOT-3
    container = notify()
    clock = clock_of(container)
    night = dt.datetime(2026, 12, 2, 23, 30, tzinfo=SHANGHAI)
    clock.set(night)
    publish("appeals", "appeal.replied", appeal(9, channel="hotline_12345",
                                                replied_at="2026-12-02T15:00:00+00:00", on_time=True))
    row = wait_until(lambda: deliveries(rpc, callers, channel="sms")["items"])[0]
    assert row["status"] == "waiting_for_morning"
    morning = dt.datetime(2026, 12, 3, 8, 0, tzinfo=SHANGHAI)
    assert dt.datetime.fromisoformat(row["next_attempt_at"]) == morning
    # an urgent one (a one-tap appointment) goes at once, even at night
    publish("appeals", "appeal.created", appeal(10))
    wait_until(lambda: sandbox.sms_to(HEAD_APPROVAL))
    clock.set(morning - dt.timedelta(minutes=1))
    time.sleep(0.5)  # several dispatch rounds
    assert sandbox.sms_to(PHONE_A) == []
    clock.set(morning)
    sms = wait_until(lambda: sandbox.sms_to(PHONE_A))
    assert "请" in sms[0]["params"][0] and "评价" in sms[0]["params"][0]


def test_a_redelivered_event_sends_once_even_with_two_instances(notify, publish, sandbox, rpc, callers):
    # rule: NOT-3
    notify()
    notify()  # a second instance on the same database and queues
    event_id = str(uuid.uuid4())
    publish("appeals", "appeal.created", appeal(11), event_id=event_id)
    publish("appeals", "appeal.created", appeal(11), event_id=event_id)  # redelivered
    wait_until(lambda: sandbox.sms_to(HEAD_APPROVAL))
    wait_until(lambda: deliveries(rpc, callers, channel="inbox", status="sent")["items"])
    time.sleep(1.0)  # let both instances finish whatever they might still do
    assert len(sandbox.sms_to(HEAD_APPROVAL)) == 1
    assert len(deliveries(rpc, callers)["items"]) == 2  # one SMS, one inbox message


def test_webhook_retried_with_backoff_then_one_signed_delivery(notify, publish, sandbox, rpc, callers):
    # rule: GW-3, NOT-3
    notify(WEBHOOK_ALLOW=["127.0.0.1/32"], RETRY_BASE_SECONDS=0.2, RETRY_FACTOR=2,
           RETRY_MAX_ATTEMPTS=3)
    sandbox.fail_first["approval"] = 2
    sandbox.fail_first["dead"] = 100
    with rpc(callers["approval"]) as p:
        sub = p.notify.create_webhook({"url": sandbox.url + "/hooks/approval",
                                       "event_types": ["appeal.created"]})
        assert sub["secret"].startswith("whsec_")
        p.notify.create_webhook({"url": sandbox.url + "/hooks/dead", "event_types": ["appeal.created"]})
    with rpc(callers["market"]) as p:  # not market's appeal: it hears nothing of it
        p.notify.create_webhook({"url": sandbox.url + "/hooks/market", "event_types": ["appeal.created"]})
    publish("appeals", "appeal.created", appeal(12, channel="hotline_12345"))
    wait_until(lambda: sandbox.accepted("approval"))
    calls = sandbox.hooks["approval"]
    assert [c["status"] for c in calls] == [503, 503, 204]
    assert len({c["headers"]["Webhook-Id"] for c in calls}) == 1  # one message, retried
    ok = calls[-1]
    headers = {k.lower(): v for k, v in ok["headers"].items()}
    payload = Webhook(sub["secret"]).verify(ok["body"], headers)
    assert payload["type"] == "appeal.created" and payload["data"]["appeal_id"] == 12
    with pytest.raises(Exception):
        Webhook("whsec_" + "QUJD" * 8).verify(ok["body"], headers)  # another secret: refused
    # back-off: each wait at least base × factor^(n-1)
    stamps = [int(c["headers"]["Webhook-Timestamp"]) for c in calls]
    assert stamps == sorted(stamps)
    # the receiver that never answers well is dead after 3 attempts; re-sent, it arrives
    dead = wait_until(lambda: deliveries(rpc, callers, status="dead")["items"])
    assert len(dead) == 1 and dead[0]["attempts"] == 3 and len(sandbox.hooks["dead"]) == 3
    sandbox.fail_first["dead"] = 0
    with rpc(callers["taskforce"]) as p:
        assert p.notify.resend(dead[0]["id"])["status"] == "queued"
        with pytest.raises(BadInput):
            p.notify.resend(dead[0]["id"])  # queued now, not dead
    wait_until(lambda: sandbox.accepted("dead"))
    assert sandbox.hooks["market"] == []
    with rpc(callers["market"]) as p:  # another department's subscription is not found
        with pytest.raises(NotFound):
            p.notify.rotate_webhook_secret(sub["id"])
    with rpc(callers["approval"]) as p:
        rotated = p.notify.rotate_webhook_secret(sub["id"])
        assert rotated["secret"] != sub["secret"]


def test_webhook_backoff_waits_grow(notify, publish, sandbox, rpc, callers):
    # rule: NOT-3
    notify(WEBHOOK_ALLOW=["127.0.0.1/32"], RETRY_BASE_SECONDS=0.3, RETRY_FACTOR=2,
           RETRY_MAX_ATTEMPTS=3)
    sandbox.fail_first["slow"] = 2
    arrivals = []
    original = sandbox._hook

    def timed(request, name):
        arrivals.append(time.monotonic())
        return original(request, name)

    sandbox._hook = timed
    with rpc(callers["approval"]) as p:
        p.notify.create_webhook({"url": sandbox.url + "/hooks/slow", "event_types": ["appeal.created"]})
    publish("appeals", "appeal.created", appeal(13, channel="hotline_12345"))
    wait_until(lambda: sandbox.accepted("slow"))
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert gaps[0] >= 0.3 and gaps[1] >= 0.6  # base, then base × factor


PRIVATE_TARGETS = ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://169.254.169.254/latest",
                   "http://10.1.2.3/x", "http://192.168.1.1/x", "http://[::1]/x", "ftp://203.0.113.5/x",
                   "http://user:pw@203.0.113.5/x"]


def test_webhook_to_a_private_address_is_refused_outside_the_allow_list(notify, rpc, callers):
    # rule: GW-3
    notify()
    with rpc(callers["approval"]) as p:
        for url in PRIVATE_TARGETS:
            with pytest.raises(BadInput) as err:
                p.notify.create_webhook({"url": url, "event_types": ["appeal.created"]})
            assert "url" in err.value.errors, url
        assert p.notify.list_webhooks() == []


def test_https_required_in_production_and_allow_list_admits_loopback(notify, rpc, callers):
    # rule: GW-3
    notify(NOTIFY_ENV="production", WEBHOOK_ALLOW=["127.0.0.1/32"])
    with rpc(callers["approval"]) as p:
        with pytest.raises(BadInput):
            p.notify.create_webhook({"url": "http://127.0.0.1:9/hook", "event_types": ["appeal.created"]})
        made = p.notify.create_webhook({"url": "https://127.0.0.1:9/hook",
                                        "event_types": ["appeal.created"]})
        assert [w["id"] for w in p.notify.list_webhooks()] == [made["id"]]
        with pytest.raises(BadInput) as err:  # unknown fields and event types named
            p.notify.create_webhook({"url": "https://127.0.0.1/x", "event_types": ["nope"], "x": 1})
        assert set(err.value.errors) == {"event_types.0", "x"}
    with rpc(callers["ent_a"]) as p:
        with pytest.raises(Exception):
            p.notify.create_webhook({"url": "https://127.0.0.1/x", "event_types": ["appeal.created"]})


@pytest.fixture
def smtp_server(tmp_path):
    port = free_port()
    maildir = tmp_path / "mail"
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket
    wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, timeout=20)
    yield port, maildir
    proc.terminate()
    proc.wait(10)


def test_escalation_email_arrives_at_the_smtp_server(notify, publish, smtp_server):
    # rule: NOT-1, NOT-3
    port, maildir = smtp_server
    notify(SMTP_PORT=port)
    publish("appeals", "appeal.escalated", appeal(14, channel="hotline_12345", level=2,
                                                  step="talk", overdue_working_days=3))
    wait_until(lambda: maildir.exists() and len(mailbox.Maildir(str(maildir), create=False)) >= 2)
    box = mailbox.Maildir(str(maildir), create=False)
    to = sorted(m["To"] for m in box)
    # the head of the lead department and the task force head (约谈)
    assert to == ["head.approval@demo-county.invalid", "head@taskforce.demo-county.invalid"]
    body = next(m for m in box if m["To"].startswith("head.approval")).get_payload(decode=True).decode()
    assert "约谈提醒" in body and "14" in body


def code(n):
    base = f"91433126MA5{n:06d}"
    return base + uscc.calc_check_digit(base)


def test_policy_push_reaches_exactly_the_matching_enterprises_once(notify, publish, sandbox, rpc, callers):
    # rule: NOT-2
    notify()
    tags = [("manufacturing", True, "park"), ("manufacturing", False, "park"),
            ("manufacturing", True, "moshi"), ("tourism", True, "park"),
            ("manufacturing", True, "park"), ("food", True, "hongshi")]
    codes = [code(i) for i in range(len(tags))]
    for c, (industry, above, town) in zip(codes, tags):
        publish("inspections", "enterprise.upserted", {"credit_code": c, "name": f"企业{c[-4:]}",
                                                       "town": town, "industry": industry,
                                                       "above_scale": above})
    lines = ["credit_code,phone,email,wechat_openid"] + [
        f"{c},1390000{i:04d},,oid{i}" for i, c in enumerate(codes)]
    with rpc(callers["taskforce"]) as p:
        # wait until the directory's events are in
        wait_until(lambda: p.notify.import_contacts({"csv": "\n".join(lines)})["imported"] == 6)
        out = p.notify.push({"kind": "policy", "title": "技改补贴", "body": "可申报。",
                             "tags": {"industry": ["manufacturing"], "size": ["above_scale"],
                                      "town": ["park"]}})
    # 0 and 4 from this test, and enterprise B of the county profile
    expected = {"+86139000000" + "00", "+86139000000" + "04", "+8613912340002"}
    assert out["matched"] == 3
    wait_until(lambda: len(sandbox.sms) >= 3)
    time.sleep(0.5)
    assert sorted(m["phone"] for m in sandbox.sms) == sorted(expected)
    assert all("技改补贴" in m["params"][0] for m in sandbox.sms)
    with rpc(callers["ent_b"]) as p:
        items = wait_until(lambda: p.notify.list_inbox({})["items"])
        assert [i["event_type"] for i in items] == ["push.policy"]
    with rpc(callers["ent_a"]) as p:  # not matched: nothing in its inbox
        assert p.notify.list_inbox({})["items"] == []
    with rpc(callers["taskforce"]) as p:  # a push to everyone is refused
        with pytest.raises(BadInput) as err:
            p.notify.push({"kind": "policy", "title": "x", "body": "y"})
        assert "tags" in err.value.errors
    with rpc(callers["market"]) as p:
        with pytest.raises(Exception):
            p.notify.push({"kind": "policy", "title": "x", "body": "y", "credit_codes": [ENTERPRISE_B]})


def test_the_61st_sms_to_one_phone_within_an_hour_is_held(notify, publish, sandbox, rpc, callers):
    # rule: NOT-3
    notify()
    for i in range(61):
        publish("appeals", "appeal.created", appeal(100 + i))
    wait_until(lambda: deliveries(rpc, callers, status="held", channel="sms")["items"], timeout=60)
    time.sleep(0.5)
    assert len(sandbox.sms_to(HEAD_APPROVAL)) == 60
    held = deliveries(rpc, callers, status="held")["items"]
    assert len(held) == 1 and "limit" in held[0]["last_error"]
    assert held[0]["address"] == "+86138****0001"  # masked for the task force too


def test_licences_imported_with_bad_rows_by_line_and_reminded_ahead(notify, rpc, callers, sandbox):
    # rule: NOT-2
    container = notify()
    clock = clock_of(container)
    clock.set(dt.datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))
    bad = ("credit_code,licence_no,name,expires_on\n"
           f"{ENTERPRISE_A},JY1,食品经营许可证,2026-12-20\n"
           "123,JY2,x,2026-12-20\n"
           f"{ENTERPRISE_B},,取水许可证,2026-13-01\n")
    with rpc(callers["taskforce"]) as p:
        out = p.notify.import_licences({"csv": bad})
        assert out["imported"] == 0
        assert [(e["line"], sorted(e["errors"])) for e in out["errors"]] == [
            (3, ["credit_code"]), (4, ["expires_on", "licence_no"])]
        good = ("credit_code,licence_no,name,expires_on\n"
                f"{ENTERPRISE_A},JY1,食品经营许可证,2026-12-20\n"
                f"{ENTERPRISE_B},QS9,取水许可证,2027-06-01\n")
        assert p.notify.import_licences({"csv": good})["imported"] == 2
    # the sweep is an hourly timer entrypoint: run it now
    with entrypoint_hook(container, "remind_licences") as sweep:
        assert sweep() == 1  # A's expires in 18 days (the 30-day mark); B's not yet
        assert sweep() == 0  # once
    sms = wait_until(lambda: sandbox.sms_to(PHONE_A))
    assert "JY1" in sms[0]["params"][0]
