"""Fixtures of the chaos tests: a broker node and a PostgreSQL cluster of
their own (tests/chaos/clusters.py), which the tests stop and start; the
suite's fixtures (start_service, rpc, event_tap …) run against them."""
import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from kernel.config import ROOT
from kernel.db import normalise_url

from .clusters import PostgresCluster, RabbitNode


@pytest.fixture(scope="session")
def rabbit():
    node = RabbitNode()
    node.start()
    yield node
    node.close()


@pytest.fixture(scope="session")
def pg():
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def amqp_uri(rabbit):
    return rabbit.uri


@pytest.fixture(autouse=True)
def clusters_up(rabbit, pg):
    """Whatever the last test broke is running again before the next one starts."""
    if not rabbit.running():
        rabbit.start_app()
    if not pg.running():
        pg.start()
    yield


@pytest.fixture
def db_factory(pg):
    """``db_factory(name)`` → a fresh database on the chaos cluster."""
    def make(name):
        dbname = f"qq_{name}_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(normalise_url(pg.url), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
        admin.dispose()
        return pg.url.rsplit("/", 1)[0] + "/" + dbname
    return make


def count(url, sql, **params):
    engine = sa.create_engine(normalise_url(url))
    try:
        with engine.connect() as c:
            return c.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


FIGURES = ROOT / "var" / "chaos" / "figures.json"


def record_figures(test, figures):
    """Write a test's figures of its last run (docs/reliability.md quotes them)."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data[test] = {**figures, "run_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    FIGURES.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
