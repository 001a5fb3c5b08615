"""Micro-measurements of the work itself (issue #16), in one process, no
broker in the timed part: appeal creation through the very same
``AppealsService.create_appeal`` the monolith calls, and the escalation sweep
of N due appeals through a real ``AppealsService`` container.

    python -m bench.micro create --db-url URL [--n 500] [--profile cumulative]
    python -m bench.micro sweep --db-url postgresql://... [--due 1000] [--amqp URI]

Prints one JSON line: wall and CPU (this process) per appeal / per sweep. The
database's own CPU is not in it. Meant for before/after comparisons of one
change on the same machine in the same minutes, not for the table.
"""
import eventlet

eventlet.monkey_patch()  # before anything imports socket or threading

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

BODY = {"channel": "mini_program", "category": "permit", "town": "hongshi",
        "title": "营业执照变更迟迟未办", "content": "提交材料已两周, 仍未办结",
        "contact_name": "张明", "contact_phone": "13912340001"}


def _timed(fn, n, profile):
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if prof:
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats(profile).print_stats(40)
    return result, wall, cpu


def create(args):
    from bench.monolith import Monolith
    from kernel.rpc import Caller
    app = Monolith(args.db_url, "micro-" + "x" * 40)
    caller = Caller(role="enterprise", sub="bench-user", org="91433126MA4L00010B")
    for _ in range(50):  # warm: connections, compiled statements, schemas, calendar
        app.service(caller).create_appeal(dict(BODY))

    def run():
        for _ in range(args.n):
            app.service(caller).create_appeal(dict(BODY))

    _, wall, cpu = _timed(run, args.n, args.profile)
    return {"creates": args.n, "wall_ms_per_appeal": round(1000 * wall / args.n, 3),
            "cpu_ms_per_appeal": round(1000 * cpu / args.n, 3)}


def sweep(args):
    from nameko.containers import ServiceContainer
    from sqlalchemy import text

    from bench.common import free_port
    from bench.growth import analyse, load
    from bench.growth import sweep as run_sweep
    from kernel.db import Database
    from services.appeals.service import AppealsService
    config = {"AMQP_URI": args.amqp, "DB_URL": args.db_url, "SWEEP_INTERVAL_SECONDS": 86400,
              "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}"}
    container = ServiceContainer(AppealsService, config)
    container.start()
    try:
        engine = next(d for d in container.dependencies if isinstance(d, Database)).engine
        with engine.connect() as c:
            now = c.execute(text("SELECT now() AT TIME ZONE 'utc'")).scalar_one()
            base = c.execute(text("SELECT coalesce(max(id), 0) FROM appeals")).scalar()
        load(engine, base + 1, base + 100, True, now)  # a warm-up set, swept unmeasured
        analyse(engine)
        run_sweep(container)
        load(engine, base + 101, base + 100 + args.due, True, now)
        analyse(engine)
        (done, _), wall, cpu = _timed(lambda: run_sweep(container), 1, args.profile)
    finally:
        container.stop()
    return {"due": args.due, "swept": done, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.micro")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create")
    c.add_argument("--db-url", required=True)
    c.add_argument("--n", type=int, default=500)
    c.add_argument("--profile", help="cProfile sort key (e.g. cumulative, tottime); to stderr")
    s = sub.add_parser("sweep")
    s.add_argument("--db-url", required=True, help="PostgreSQL (rows are loaded by generate_series)")
    s.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/")
    s.add_argument("--due", type=int, default=1000)
    s.add_argument("--profile")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps({"create": create, "sweep": sweep}[args.command](args)), flush=True)


if __name__ == "__main__":
    main()
