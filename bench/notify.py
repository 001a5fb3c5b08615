"""``python -m bench.notify [--size N]``: the notify service against a raw loop.

1. One policy pushed to N matching enterprises: time until all are queued (the
   push RPC returns), until all are delivered to the local SMS endpoint
   through Tencent's SDK, and notify's CPU per message; beside it, a raw loop
   calling the same SDK against the same endpoint with the same concurrency.
2. Webhook fan-out: one event to 50 subscribers (Standard Webhooks, signed),
   against a raw loop of 50 signed POSTs.

notify runs in this process (its CPU is this process's); the endpoint
(``services/notify/sandbox.py``) runs in a child process so its CPU is not
counted. The database is PostgreSQL, the broker the real RabbitMQ, both on
loopback. The issue's size is 100,000; the default here is smaller so the run
fits beside the rest of ``make bench`` on 2 shared cores — the per-message
figures are what scale; the table states the size measured and extrapolates.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402

from kombu import Connection, Producer  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from stdnum.cn import uscc  # noqa: E402

from bench.common import PYTHON, RESULTS, Child, Resources, free_port, wait_port  # noqa: E402
from kernel.outbox import event_exchange  # noqa: E402
from kernel.rpc import Caller, cluster_proxy  # noqa: E402

TASKFORCE = Caller(role="taskforce", sub="bench", org="taskforce")
CONCURRENCY = 8


def counts(url):
    with urllib.request.urlopen(url + "/_sandbox", timeout=5) as r:
        return json.loads(r.read())


def wait_for(predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def seed_enterprises(container, n):
    from services.notify.models import Enterprise
    from services.notify.service import Database
    db = next(d for d in container.dependencies if isinstance(d, Database))
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for i in range(n):
        base = f"91433126MB{i:07d}"
        rows.append({"credit_code": base + uscc.calc_check_digit(base), "name": f"企业{i}",
                     "town": "park", "industry": "manufacturing", "size": "above_scale",
                     "phone": f"+86137{i:08d}", "updated_at": now})
    with db.store.transaction() as s:
        for k in range(0, n, 5000):
            s.execute(insert(Enterprise.__table__), rows[k:k + 5000])


def raw_sms_loop(endpoint, n):
    """The same SDK, the same request, the same endpoint, no platform."""
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.sms.v20210111 import models, sms_client
    http = HttpProfile(protocol="http", endpoint=endpoint, keepAlive=True)
    clients = eventlet.Queue()
    for _ in range(CONCURRENCY):
        clients.put(sms_client.SmsClient(credential.Credential("dev-id", "dev-key"), "ap-guangzhou",
                                         ClientProfile(httpProfile=http)))

    def one(i):
        client = clients.get()
        try:
            req = models.SendSmsRequest()
            req.PhoneNumberSet = [f"+86136{i:08d}"]
            req.SmsSdkAppId, req.SignName, req.TemplateId = "1400000000", "示范县营商环境", "100001"
            req.TemplateParamSet = ["【惠企政策】企业：技改补贴。符合条件的企业可申报。"]
            client.SendSms(req)
        finally:
            clients.put(client)

    cpu0, t0 = time.process_time(), time.perf_counter()
    pool = eventlet.GreenPool(CONCURRENCY)
    for i in range(n):
        pool.spawn_n(one, i)
    pool.waitall()
    return time.perf_counter() - t0, time.process_time() - cpu0


def raw_webhook_loop(url, n):
    import requests
    from standardwebhooks import Webhook
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    body = json.dumps({"type": "appeal.created", "data": {"appeal_id": 1}})
    session = requests.Session()

    def one(i):
        now = dt.datetime.now(dt.timezone.utc)
        sig = Webhook(secret).sign(f"msg_{i}", now, body)
        session.post(f"{url}/hooks/raw{i}", data=body.encode(), timeout=5, headers={
            "webhook-id": f"msg_{i}", "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sig, "content-type": "application/json"})

    cpu0, t0 = time.process_time(), time.perf_counter()
    pool = eventlet.GreenPool(16)
    for i in range(n):
        pool.spawn_n(one, i)
    pool.waitall()
    return time.perf_counter() - t0, time.process_time() - cpu0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--events", type=int, default=5)
    args = parser.parse_args()
    res = Resources()
    work = tempfile.mkdtemp(prefix="qq-bench-notify-")
    port = free_port()
    box = Child("sandbox", [PYTHON, "-m", "services.notify.sandbox", "--port", str(port)], work)
    sandbox = f"http://127.0.0.1:{port}"
    out = {"size": args.size, "subscribers": args.subscribers, "events": args.events}
    container = None
    try:
        wait_port(port, child=box)
        amqp = res.amqp_uri()
        config = {"AMQP_URI": amqp, "DB_URL": res.database("notify"),
                  "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}",
                  "SMS_ENDPOINT": f"127.0.0.1:{port}", "SMS_PROTOCOL": "http",
                  "SMS_CONCURRENCY": CONCURRENCY, "DISPATCH_CONCURRENCY": CONCURRENCY,
                  "DISPATCH_INTERVAL_SECONDS": 0.05, "DISPATCH_BATCH": 500,
                  "SMS_HOURLY_LIMIT": 1000, "WEBHOOK_ALLOW": ["127.0.0.1/32"],
                  "LICENCE_SWEEP_SECONDS": 3600, "SMTP_PORT": 1}
        from services.notify.service import NotifyService
        container = ServiceContainer(NotifyService, config)
        container.start()
        seed_enterprises(container, args.size)
        # 1. the push
        cpu0, t0 = time.process_time(), time.perf_counter()
        with cluster_proxy(config, TASKFORCE, timeout=600) as p:
            pushed = p.notify.push({"kind": "policy", "title": "技改补贴", "body": "符合条件的企业可申报。",
                                    "tags": {"industry": ["manufacturing"], "size": ["above_scale"],
                                             "town": ["park"]}})
        queued_s = time.perf_counter() - t0
        ok = wait_for(lambda: counts(sandbox)["sms"] >= args.size, timeout=3600)
        delivered_s = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        out["push"] = {"matched": pushed["matched"], "queued_s": queued_s, "delivered_s": delivered_s,
                       "cpu_s": cpu, "complete": ok, "sms_received": counts(sandbox)["sms"]}
        raw_wall, raw_cpu = raw_sms_loop(f"127.0.0.1:{port}", args.size)
        out["raw_sms"] = {"wall_s": raw_wall, "cpu_s": raw_cpu}
        # 2. webhook fan-out
        with cluster_proxy(config, TASKFORCE) as p:
            for i in range(args.subscribers):
                p.notify.create_webhook({"url": f"{sandbox}/hooks/s{i}", "event_types": ["appeal.created"]})
        conn = Connection(amqp)
        producer = Producer(conn.channel(), exchange=event_exchange("appeals"), serializer="json")
        total = args.subscribers * args.events
        cpu0, t0 = time.process_time(), time.perf_counter()
        for k in range(args.events):
            producer.publish({"event_id": str(uuid.uuid4()), "event_type": "appeal.created",
                              "schema_version": 1, "occurred_at": "2026-12-02T02:00:00+00:00",
                              "source": "appeals", "data": {
                                  "appeal_id": k + 1, "status": "assigned", "tier": "red",
                                  "channel": "hotline_12345", "category": "permit",
                                  "enterprise_code": "91433126MA4L00010B", "lead_department": "approval",
                                  "co_departments": [], "due_at": None,
                                  "received_at": "2026-12-02T02:00:00+00:00"}},
                             routing_key="appeal.created", declare=[event_exchange("appeals")])
        ok = wait_for(lambda: sum(v for k, v in counts(sandbox)["hooks"].items()
                                  if k.startswith("s")) >= total, timeout=600)
        out["fanout"] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0,
                         "deliveries": total, "complete": ok}
        conn.release()
        raw_wall, raw_cpu = raw_webhook_loop(sandbox, total)
        out["raw_webhook"] = {"wall_s": raw_wall, "cpu_s": raw_cpu}
    finally:
        if container is not None:
            container.stop()
        box.stop()
        res.close()
    report(out)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "notify.json").write_text(json.dumps(out, indent=2))


def report(o):
    n = o["size"]
    push, raw = o["push"], o["raw_sms"]
    rate, raw_rate = n / push["delivered_s"], n / raw["wall_s"]
    print(f"notify bench at {n:,} enterprises (the issue's size: 100,000)")
    print(f"  push: all queued in {push['queued_s']:.2f} s, all delivered in {push['delivered_s']:.1f} s "
          f"({rate:,.0f} SMS/s), CPU {1000 * push['cpu_s'] / n:.2f} ms/message")
    print(f"  raw SDK loop: {raw['wall_s']:.1f} s ({raw_rate:,.0f} SMS/s), CPU {1000 * raw['cpu_s'] / n:.2f} ms/message")
    print(f"  ratio platform/raw throughput: {rate / raw_rate:.2f}")
    print(f"  extrapolated to 100,000: queued {push['queued_s'] * 100_000 / n:.0f} s, "
          f"delivered {100_000 / rate:.0f} s")
    f, rw = o["fanout"], o["raw_webhook"]
    print(f"  webhook fan-out: {f['deliveries']} deliveries ({o['events']} events × {o['subscribers']}) "
          f"in {f['wall_s']:.2f} s ({f['deliveries'] / f['wall_s']:.0f}/s); raw loop {rw['wall_s']:.2f} s "
          f"({f['deliveries'] / rw['wall_s']:.0f}/s); ratio {rw['wall_s'] / f['wall_s']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
