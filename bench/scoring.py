"""The scoring service at a county's scale (SCO-3, SCO-1, SCO-6).

1. A monthly ranking over a small and a large year of ratings: ratings are
   bulk-inserted by PostgreSQL (``INSERT … SELECT generate_series``) and the
   running totals filled from them with one GROUP BY (what the service's
   per-rating upserts would have left); then ``compute_ranking`` (what
   publishing reads) and ``verify_ranking`` (the recount from the raw
   ratings) are timed through nameko's entrypoint hook.
2. Ratings ingested from events: ``appeal.rated`` events queued while the
   service is stopped, then drained by a fresh container; ratings per second
   and CPU per rating of this process (the container is all it runs then).
3. A live session: 100 raters (enterprise tokens) score three departments at
   once through a real gateway while a screen follows the server-sent events;
   time from a score's POST to the first event that includes it, p50/p99.

    python -m bench.scoring --amqp URI --db-url URL --small 10000 --large 1000000
"""
import eventlet

eventlet.monkey_patch()  # before anything imports socket or threading

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import jwt  # noqa: E402
import requests  # noqa: E402
from kombu import Connection, Producer  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402
from nameko.testing.services import entrypoint_hook  # noqa: E402
from sqlalchemy import text  # noqa: E402
from stdnum.cn import uscc  # noqa: E402

from bench.common import free_port, percentile  # noqa: E402
from kernel.calendar import utcnow  # noqa: E402
from kernel.db import Database  # noqa: E402
from kernel.outbox import event_exchange  # noqa: E402
from kernel.rpc import Caller, caller_signing_key  # noqa: E402
from services.scoring.service import ScoringService  # noqa: E402

TASKFORCE = Caller(role="taskforce", sub="bench-tf", org="taskforce")
SECRET = "bench-scoring-secret-0123456789abcdef-0123"
WINDOWS = 41  # windows rated (coprime with 12: every window is rated every month)
MONTH = "2026-06"

# Ratings g in [first, last] spread over the twelve months of 2026, over
# WINDOWS windows, scores 1..5 in a fixed pattern.
_RATINGS = """
INSERT INTO ratings (subject_code, subject_kind, department, enterprise_code, service_event,
                     source, score, comment, period, rated_at)
SELECT 'bench_win_' || (g % :windows), 'window', 'approval', '91433126MA4L00010B',
       'bench:' || g, 'qr', 1 + (g * 7 + g / 13) % 5, NULL,
       '2026-' || lpad((1 + g % 12)::text, 2, '0'), now() AT TIME ZONE 'utc'
FROM generate_series(:first, :last) AS g
"""
_TOTALS = """
DELETE FROM rating_totals;
INSERT INTO rating_totals (subject_code, period, subject_kind, ratings, total, bad, id_sum, max_id)
SELECT subject_code, period, subject_kind, count(*), sum(score),
       sum(CASE WHEN score <= 2 THEN 1 ELSE 0 END), sum(id), max(id)
FROM ratings GROUP BY subject_code, period, subject_kind
"""


def timed(container, method, *args, repeat=1):
    times, result = [], None
    ctx = {"caller": TASKFORCE.to_header(caller_signing_key(container.config))}
    for _ in range(repeat):
        started = time.perf_counter()
        with entrypoint_hook(container, method, context_data=ctx) as hook:
            result = hook(*args)
        times.append(time.perf_counter() - started)
    return result, {"p50_ms": statistics.median(times) * 1000,
                    "p99_ms": percentile(times, 99) * 1000, "repeat": repeat}


def ranking_growth(container, engine, sizes, repeat):
    out = {}
    loaded = 0
    for label, size in (("small", sizes[0]), ("large", sizes[1])):
        with engine.begin() as c:
            c.execute(text(_RATINGS), {"first": loaded + 1, "last": size, "windows": WINDOWS})
            c.execute(text(_TOTALS))
        loaded = size
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE ratings"))
            c.execute(text("VACUUM ANALYZE rating_totals"))
        query = {"kind": "windows_monthly", "period": MONTH}
        ranking, rank_t = timed(container, "compute_ranking", query, repeat=repeat)
        published, _ = timed(container, "publish_ranking",
                             {**query, **({"replaces": out["last_id"], "reason": "bench"}
                                          if "last_id" in out else {})})
        out["last_id"] = published["id"]
        verified, verify_t = timed(container, "verify_ranking", published["id"],
                                   repeat=max(3, repeat // 5))
        out[label] = {"ratings": size, "ranking": rank_t, "verify": verify_t,
                      "ranked": len(ranking["ranked"]), "matches": verified["matches"],
                      "month_ratings": sum(r["ratings"] for r in ranking["ranked"])}
    out.pop("last_id")
    return out


def envelope(i):
    data = {"appeal_id": i, "status": "closed", "tier": "yellow", "channel": "mini_program",
            "category": "permit", "enterprise_code": "91433126MA4L00020C",
            "lead_department": "approval", "co_departments": [], "due_at": None,
            "rating": 1 + i % 5, "dissatisfied": i % 5 < 2}
    return {"event_id": str(uuid.uuid4()), "event_type": "appeal.rated", "schema_version": 1,
            "occurred_at": utcnow().isoformat(), "source": "appeals", "data": data}


def ingest(config, engine, count):
    first = ServiceContainer(ScoringService, config)
    first.start()  # declares its durable queue
    first.stop()
    with Connection(config["AMQP_URI"]) as conn:
        producer = Producer(conn.channel(), exchange=event_exchange("appeals"), serializer="json")
        for i in range(count):
            producer.publish(envelope(10_000_000 + i), routing_key="appeal.rated",
                             delivery_mode=2, declare=[event_exchange("appeals")])
    with engine.connect() as c:
        before = c.execute(text("SELECT count(*) FROM processed_events")).scalar_one()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    container = ServiceContainer(ScoringService, config)
    container.start()
    done = before
    while done < before + count and time.perf_counter() - started < 600:
        eventlet.sleep(0.2)
        with engine.connect() as c:
            done = c.execute(text("SELECT count(*) FROM processed_events")).scalar_one()
    seconds = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    container.stop()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    handled = done - before
    return {"events": count, "handled": handled, "seconds": seconds,
            "rate": handled / seconds if seconds else None,
            "cpu_ms_per_rating": cpu * 1000 / handled if handled else None}


def enterprise_token(i):
    head = f"91433126MA{i:07d}"
    code = head + uscc.calc_check_digit(head)
    now = int(time.time())
    return {"Authorization": "Bearer " + jwt.encode(
        {"sub": f"rater-{i}", "role": "enterprise", "org": code, "exp": now + 3600},
        SECRET, algorithm="HS256")}


def live_session(config, raters, departments=("approval", "tax", "market")):
    from gateway.service import GatewayService
    address = f"127.0.0.1:{free_port()}"
    gateway = ServiceContainer(GatewayService, {
        **config, "WEB_SERVER_ADDRESS": address, "DB_URL": config["GATEWAY_DB_URL"],
        "GATEWAY_JWT_SECRET": SECRET, "GATEWAY_RATE_BURST": 100_000,
        "GATEWAY_RATE_PER_SECOND": 100_000, "SCO_SSE_POLL_SECONDS": 0.05, "max_workers": 50})
    scoring = ServiceContainer(ScoringService, config)
    scoring.start()
    gateway.start()
    base = f"http://{address}"
    tf = {"Authorization": "Bearer " + jwt.encode(
        {"sub": "tf", "role": "taskforce", "org": "taskforce", "exp": int(time.time()) + 3600},
        SECRET, algorithm="HS256")}
    try:
        sid = requests.post(f"{base}/api/v1/sessions", headers=tf, json={
            "title": "bench", "departments": list(departments)}).json()["session_id"]
        seen = []  # (arrival time, revision)

        def screen():
            with requests.get(f"{base}/api/v1/sessions/{sid}/stream", headers=tf, stream=True,
                              timeout=120) as r:
                for line in r.iter_lines(decode_unicode=True):
                    if line.startswith("data: "):
                        board = json.loads(line[6:])
                        seen.append((time.perf_counter(), board["revision"]))
                        if board["status"] == "closed":
                            return

        watcher = eventlet.spawn(screen)
        eventlet.sleep(0.5)
        sent = []  # (send time, revision after this score)

        def rater(i):
            session = requests.Session()
            headers = enterprise_token(i)
            for d in departments:
                t0 = time.perf_counter()
                r = session.post(f"{base}/api/v1/sessions/{sid}/scores", headers=headers,
                                 json={"department": d, "score": 60 + (i * 7) % 41})
                if r.status_code == 201:
                    sent.append((t0, r.json()["revision"]))
            session.close()

        pool = eventlet.GreenPool(raters)
        started = time.perf_counter()
        for i in range(raters):
            pool.spawn(rater, i)
        pool.waitall()
        scored = time.perf_counter() - started
        eventlet.sleep(0.5)
        requests.post(f"{base}/api/v1/sessions/{sid}/close", headers=tf)
        watcher.wait()
        latencies = []
        for t0, revision in sent:
            shown = next((t for t, rev in seen if rev >= revision), None)
            if shown is not None:
                latencies.append(shown - t0)
        return {"raters": raters, "scores": len(sent), "seconds": scored,
                "shown": len(latencies), "events": len(seen),
                "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
                "p99_ms": percentile(latencies, 99) * 1000 if latencies else None}
    finally:
        gateway.stop()
        scoring.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.scoring")
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--gateway-db-url", required=True)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--raters", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    config = {"AMQP_URI": args.amqp, "DB_URL": args.db_url, "SWEEP_INTERVAL_SECONDS": 86400,
              "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", "SCO_MIN_RATINGS": 10,
              "GATEWAY_DB_URL": args.gateway_db_url, "max_workers": 20}  # as in config/*.yaml
    out = {}
    container = ServiceContainer(ScoringService, config)
    container.start()
    try:
        engine = next(d for d in container.dependencies if isinstance(d, Database)).engine
        out["ranking"] = ranking_growth(container, engine, (args.small, args.large), args.repeat)
    finally:
        container.stop()
    out["ingest"] = ingest(config, engine, args.events)
    out["session"] = live_session(config, args.raters)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
