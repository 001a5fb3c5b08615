"""Memory of a ledger export job (issue 13): 100,000 rows, CSV and XLSX.

    .venv/bin/python -m bench.export_memory [--rows 100000] [--db-url URL]

Seeds a fresh appeals database (SQLite in a temporary directory unless
--db-url), then runs services.appeals.exports.run in this process while a green
thread samples the resident set size; prints the growth over the size before
the run. The issue's bound: under 50 MiB for 100,000 rows.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402

from bench.common import rss_mb  # noqa: E402
from kernel.calendar import utcnow  # noqa: E402
from kernel.db import Store, make_engine, migrate  # noqa: E402
from kernel.rpc import Caller  # noqa: E402
from services.appeals import exports, schemas  # noqa: E402
from services.appeals.service import MIGRATIONS  # noqa: E402

TASKFORCE = Caller(role="taskforce", sub="bench-tf", org="taskforce")


def seed(engine, rows):
    now = utcnow()
    template = {"channel": "mini_program", "enterprise_code": "91433126MA4L00010B",
                "enterprise_name": "示范企业有限公司", "contact_name": "张明",
                "contact_phone": "+8613912340001", "category": "permit", "town": "hongshi",
                "content": "提交材料已两周, 仍未办结" * 4, "attachments": [], "tier": "yellow",
                "status": "assigned", "lead_department": "approval", "co_departments": ["market"],
                "received_at": now, "due_at": now, "created_at": now, "updated_at": now,
                "created_by": "bench", "escalation_level": 0, "version": 1}
    table = sa.Table("appeals", sa.MetaData(), autoload_with=engine)
    template = {k: v for k, v in template.items() if k in table.c}
    for col in table.c:  # any other required column: a plain default of its type
        if not col.nullable and not col.primary_key and col.name not in template:
            kind = col.type.python_type if hasattr(col.type, "impl") is False else object
            template[col.name] = {bool: False, int: 0, str: ""}.get(kind, now)
    with engine.begin() as c:
        for start in range(0, rows, 5000):
            c.execute(table.insert(), [dict(template, title=f"营业执照变更迟迟未办 {i}")
                                       for i in range(start, min(rows, start + 5000))])


def measure(store, fmt, directory):
    query = {"format": fmt}
    job = exports.create(store, query, schemas.load(schemas.ExportQuery, query), TASKFORCE, utcnow())
    pid, peak = os.getpid(), [0.0]
    before = rss_mb(pid)
    running = [True]

    def sample():
        while running[0]:
            peak[0] = max(peak[0], rss_mb(pid))
            eventlet.sleep(0.05)

    sampler = eventlet.spawn(sample)
    started = time.perf_counter()
    exports.run(store, job["id"], directory)
    seconds = time.perf_counter() - started
    running[0] = False
    sampler.wait()
    status = exports.find(store, job["id"], TASKFORCE)
    return {"format": fmt, "rows": status["rows_done"], "seconds": round(seconds, 1),
            "rss_before_mb": round(before, 1), "rss_growth_mb": round(peak[0] - before, 1),
            "file_mb": round(status["size"] / 2**20, 1)}


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.export_memory")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.db_url or f"sqlite:///{Path(tmp) / 'appeals.db'}")
        migrate(engine, MIGRATIONS)
        seed(engine, args.rows)
        store = Store(engine, sessionmaker(engine, expire_on_commit=False))
        for fmt in ("csv", "xlsx"):
            print(json.dumps(measure(store, fmt, Path(tmp))), flush=True)
        engine.dispose()


if __name__ == "__main__":
    main()
