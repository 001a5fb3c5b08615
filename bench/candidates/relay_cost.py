"""What the outbox relay costs per event, alone: N events staged in the
outbox table, then the relay drains them in batches of ``--batch``; the
process's CPU and wall time per event are printed, for the relay as it is or
with a candidate module imported first. Makes and drops its own database.

    python -m bench.candidates.relay_cost [--events 3000] [--batch 200] [--candidate MODULE]
"""
import eventlet

eventlet.monkey_patch()  # before anything imports socket or threading

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

from nameko.containers import ServiceContainer  # noqa: E402
from sqlalchemy import func, select  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.candidates.relay_cost")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--candidate", metavar="MODULE", help="a candidate module imported first")
    parser.add_argument("--batch", type=int, default=200,
                        help="OUTBOX_BATCH; under creation load the relay wakes after each commit and "
                             "finds ~3 rows, so --batch 3 is what it meets there")
    args = parser.parse_args(argv)
    if args.candidate:
        importlib.import_module(args.candidate)
    from bench.common import Resources, free_port
    from kernel.calendar import utcnow
    from kernel.db import Database
    from kernel.outbox import OutboxRelay
    from services.appeals.service import AppealsService

    res = Resources()
    try:
        config = {"AMQP_URI": res.amqp_uri(), "DB_URL": res.database("relay"),
                  "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}", "SWEEP_INTERVAL_SECONDS": 86400,
                  "OUTBOX_POLL_SECONDS": 3600, "OUTBOX_BATCH": args.batch}
        container = ServiceContainer(AppealsService, config)
        container.start()
        db = next(d for d in container.dependencies if isinstance(d, Database))
        relay = next(d for d in container.dependencies if isinstance(d, OutboxRelay))
        relay.running = False  # its own loop stays out of the way; we drive it
        relay.poke()
        eventlet.sleep(0.5)
        data = {"appeal_id": 1, "status": "assigned", "tier": "yellow", "channel": "mini_program",
                "category": "permit", "enterprise_code": "91433126MA4L00010B", "lead_department": "approval",
                "co_departments": [], "due_at": None, "received_at": utcnow()}
        with db.store.transaction() as s:
            for _ in range(args.events):
                relay.stage(s, "appeal.created", dict(data))
        t = relay.table
        cpu0, wall0 = time.process_time(), time.perf_counter()
        while relay.publish_pending():
            pass
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        with db.store.reading() as s:
            left = s.execute(select(func.count()).select_from(t).where(t.c.published_at.is_(None))).scalar_one()
        container.stop()
        print(json.dumps({"candidate": args.candidate, "batch": args.batch, "events": args.events, "left_unpublished": left,
                          "cpu_ms_per_event": round(1000 * cpu / args.events, 3),
                          "wall_ms_per_event": round(1000 * wall / args.events, 3)}))
    finally:
        res.close()


if __name__ == "__main__":
    main()
