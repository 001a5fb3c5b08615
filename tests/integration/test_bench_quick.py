"""The benchmark's quick mode runs in the suite, so it never rots (issue #6).

It runs ``python -m bench.run --quick`` for real — its own vhost on the real
RabbitMQ, its own PostgreSQL databases, each service as its own process, the
gateway and the monolith under load — and checks that every row of the table
was produced with a number and that the JSON was written. No timing is
asserted: speed is for the benchmark itself, not for tests.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.db_independent]

ROOT = Path(__file__).resolve().parents[2]

SECTIONS = ("1 floor", "2 platform RPC", "3 end to end", "4 data growth", "5 memory",
            "6 scoring")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-W", "ignore", "-m", "bench.run", "--quick", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc, out


def test_quick_run_writes_every_row_with_a_number(quick_run):
    # rule: none — issue #6 (benchmarks): the quick mode runs whole
    proc, out = quick_run
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert {r["section"] for r in rows} == set(SECTIONS)
    for r in rows:
        assert isinstance(r["value"], (int, float)) and not isinstance(r["value"], bool), r
        if r["target"]:  # every row with a target carries its reference and a verdict
            assert isinstance(r["reference_value"], (int, float)), r
            assert isinstance(r["ratio"], (int, float)), r
            assert r["ok"] in (True, False), r
    measures = " ".join(r["measure"] for r in rows)
    for expected in ("raw kombu", "WSGI hello", "appeals.get_appeal", "POST /api/v1/appeals via gateway, 16",
                     "POST /api/v1/appeals via gateway, 64", "sweep", "ledger deep page",
                     "RSS of appeals", "RSS of gateway",
                     # issue #16: the work against a plain WSGI + one INSERT, CPU per appeal
                     "the work: in-process monolith / plain WSGI + one INSERT, 16",
                     "CPU per created appeal (ms), all processes"):
        assert expected in measures, expected
    # the same table was printed
    assert "POST /api/v1/appeals via gateway" in proc.stdout


def test_quick_run_records_machine_versions_and_date(quick_run):
    # rule: none — issue #6: the results say where and with what they were measured
    _, out = quick_run
    result = json.loads(out.read_text())
    assert result["mode"] == "quick"
    assert result["machine"]["cores"] >= 1
    assert result["versions"]["nameko"] and result["versions"]["postgresql"]
    assert result["date"][:2] == "20"
    # the load generator was not the bottleneck: its own CPU use is recorded
    gateway_16 = result["raw"]["gateway_16"]
    assert gateway_16["loadgen"] in ("wrk", "python")
    assert isinstance(gateway_16["loadgen_cpu_cores"], float)


def test_quick_run_leaves_no_database_behind(quick_run):
    # rule: none — issue #6: a run drops the databases it made
    import sqlalchemy as sa

    from kernel.db import normalise_url
    admin_url = os.environ.get("QQ_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    _, out = quick_run
    tag_dbs = [f"qq_bench_{json.loads(out.read_text())['run_tag']}_%"]
    engine = sa.create_engine(normalise_url(admin_url))
    with engine.connect() as c:
        left = c.execute(sa.text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                         {"p": tag_dbs[0]}).scalars().all()
    engine.dispose()
    assert left == []
