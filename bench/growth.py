"""Cost as the data grows: the escalation sweep over a small and a large
ledger with the same number of appeals due, and the ledger's first page
against a page deep in the large one (keyset pagination).

A real ``AppealsService`` container runs in this process on its own
database; the sweep (a timer entrypoint) and ``list_appeals`` are called
through nameko's entrypoint hook, so what is timed is the service's own work
(database and serialisation), not the broker. Rows are loaded in bulk by
PostgreSQL itself (``INSERT … SELECT generate_series``), not through the API.

    python -m bench.growth --amqp URI --db-url URL --small 10000 --large 1000000 --due 1000
"""
import eventlet

eventlet.monkey_patch()  # before anything imports socket or threading

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from nameko.containers import ServiceContainer  # noqa: E402
from nameko.testing.services import entrypoint_hook  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.common import free_port, percentile  # noqa: E402
from kernel.db import Database  # noqa: E402
from kernel.rpc import Caller, caller_signing_key  # noqa: E402
from services.appeals.service import AppealsService  # noqa: E402

TASKFORCE = Caller(role="taskforce", sub="bench-tf", org="taskforce")

# Appeals ``g`` in [first, last]: 90% closed (nothing left to check), 10%
# being handled with their next check days away; the due ones are handled,
# past their deadline, and their reminder is a day late: the sweep takes two
# ladder steps on each (reminder, supervision) and then leaves them alone.
_INSERT = """
INSERT INTO appeals (channel, enterprise_code, enterprise_name, contact_name, contact_phone,
    category, town, title, content, attachments, tier, status, lead_department,
    received_at, due_at, accepted_at, replied_at, replied_on_time, closed_at, rating,
    under_review, reopen_count, instructions, extensions, escalation_level, next_check_at,
    created_by, created_at, updated_at, version)
SELECT
    (ARRAY['mini_program','hotline_12345','one_tap','supervisor'])[1 + g % 4],
    '91433126MA4L00010B', '示范县茶业有限公司', '张明', '+8613912340001',
    (ARRAY['permit','land','tax','labour','finance'])[1 + g % 5],
    (ARRAY['chengguan','hongshi','moshi','park'])[1 + g % 4],
    '营业执照变更迟迟未办', '提交材料已两周, 仍未办结', '[]'::json,
    (ARRAY['red','yellow','blue'])[1 + g % 3],
    CASE WHEN :due THEN 'assigned' WHEN g % 10 = 0 THEN 'accepted' ELSE 'closed' END,
    (ARRAY['approval','natural_resources','tax','hr','finance'])[1 + g % 5],
    :now - make_interval(secs => (:last - g) * 30),
    CASE WHEN :due THEN :now - interval '1 hour'
         ELSE :now - make_interval(secs => (:last - g) * 30) + interval '5 days' END,
    NULL, CASE WHEN :due OR g % 10 = 0 THEN NULL ELSE :now - interval '1 day' END,
    CASE WHEN :due OR g % 10 = 0 THEN NULL ELSE true END,
    CASE WHEN :due OR g % 10 = 0 THEN NULL ELSE :now - interval '1 day' END,
    CASE WHEN :due OR g % 10 = 0 THEN NULL ELSE 1 + g % 5 END,
    false, 0, 0, 0, 0,
    CASE WHEN :due THEN :now - interval '1 day'
         WHEN g % 10 = 0 THEN :now + interval '9 days' ELSE NULL END,
    'bench', :now, :now, 1
FROM generate_series(:first, :last) AS g
"""


# each appeal co-handled by the market department: rows of their own (appeal_co_departments)
_CO_HANDLERS = """
INSERT INTO appeal_co_departments (appeal_id, department)
SELECT id, 'market' FROM appeals WHERE id > :before ORDER BY id
"""


def load(engine, first, last, due, now):
    """Bulk-insert appeals numbered first..last; returns seconds taken."""
    started = time.perf_counter()
    with engine.begin() as c:
        before = c.execute(text("SELECT coalesce(max(id), 0) FROM appeals")).scalar()
        c.execute(text(_INSERT), {"first": first, "last": last, "due": due, "now": now})
        c.execute(text(_CO_HANDLERS), {"before": before})
    return time.perf_counter() - started


def analyse(engine):
    # What autovacuum would have done by the time a real ledger is this big.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE appeals"))


def sweep(container):
    started = time.perf_counter()
    with entrypoint_hook(container, "sweep") as hook:
        done = hook()
    return done, time.perf_counter() - started


def page_times(container, query, repeat):
    """p50 and p99 of ``list_appeals(query)`` in ms, and the page's size."""
    times, size = [], 0
    ctx = {"caller": TASKFORCE.to_header(caller_signing_key(container.config))}
    for _ in range(repeat):
        started = time.perf_counter()
        with entrypoint_hook(container, "list_appeals", context_data=ctx) as hook:
            page = hook(dict(query))
        times.append(time.perf_counter() - started)
        size = len(page["items"])
    return {"p50_ms": statistics.median(times) * 1000, "p99_ms": percentile(times, 99) * 1000,
            "rows": size, "repeat": repeat}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.growth")
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    config = {"AMQP_URI": args.amqp, "DB_URL": args.db_url, "SWEEP_INTERVAL_SECONDS": 86400,
              "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}"}
    container = ServiceContainer(AppealsService, config)
    container.start()
    try:
        engine = next(d for d in container.dependencies if isinstance(d, Database)).engine
        with engine.connect() as c:
            now = c.execute(text("SELECT now() AT TIME ZONE 'utc'")).scalar_one()
        out = {"sizes": {"small": args.small, "large": args.large, "due": args.due}}

        # The small ledger: at rest, then a warm-up set swept unmeasured (first
        # use of every code path and connection), then the due ones (newest ids).
        warm = min(args.due, 100)
        rest = args.small - args.due - warm
        out["load_small_s"] = load(engine, 1, rest, False, now)
        load(engine, rest + 1, rest + warm, True, now)
        analyse(engine)
        sweep(container)
        load(engine, rest + warm + 1, args.small, True, now)
        analyse(engine)
        done, seconds = sweep(container)
        out["sweep_small"] = {"seconds": seconds, "swept": done}

        # Grow it to the large size; the swept ones are no longer due, a new
        # set of the same size is.
        started = time.perf_counter()
        load(engine, args.small + 1, args.large - args.due, False, now)
        load(engine, args.large - args.due + 1, args.large, True, now)
        analyse(engine)
        out["load_large_s"] = time.perf_counter() - started
        done, seconds = sweep(container)
        out["sweep_large"] = {"seconds": seconds, "swept": done}

        with engine.connect() as c:
            count, low = c.execute(text("SELECT count(*), min(id) FROM appeals")).one()
        out["stored"] = count
        deep = low + 1000 if args.large > 2000 else low + args.large // 2
        out["page_first"] = page_times(container, {"limit": 50}, args.repeat)
        out["page_deep"] = page_times(container, {"limit": 50, "cursor": deep}, args.repeat)
        dept = {"limit": 50, "department": "approval"}
        out["page_first_dept"] = page_times(container, dept, args.repeat)
        out["page_deep_dept"] = page_times(container, {**dept, "cursor": deep}, args.repeat)
        out["deep_cursor"] = deep
    finally:
        container.stop()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
