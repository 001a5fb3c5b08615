"""Fixtures shared by the whole suite.

Integration tests talk to the real RabbitMQ (a fresh vhost per test session)
and the real database: a SQLite file per service by default, PostgreSQL when
``QQ_TEST_DB=postgres`` (a fresh database per test). Nothing is mocked.
"""
import eventlet

eventlet.monkey_patch()  # before anything else imports socket or threading

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from urllib.parse import quote  # noqa: E402

import pytest  # noqa: E402
from kombu import Connection, Queue  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402

from kernel.db import normalise_url  # noqa: E402
from kernel.outbox import event_exchange  # noqa: E402
from kernel.rpc import Caller, cluster_proxy  # noqa: E402

AMQP_HOST = os.environ.get("QQ_TEST_AMQP_HOST", "127.0.0.1:5672")
PG_ADMIN_URL = os.environ.get("QQ_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_DB = os.environ.get("QQ_TEST_DB", "sqlite")


def pytest_collection_modifyitems(config, items):
    """The PostgreSQL pass re-runs what touches a service's database; tests
    marked ``db_independent`` (HTTP conformance, generated clients, the broker's
    permissions, the benchmark's own PostgreSQL run …) prove the same thing on
    either and run once, in the SQLite pass."""
    if TEST_DB != "postgres":
        return
    once = pytest.mark.skip(reason="db_independent: proven in the SQLite pass")
    for item in items:
        if item.get_closest_marker("db_independent"):
            item.add_marker(once)


def _rabbitmqctl(*args):
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        return False
    return subprocess.run([ctl, *args], capture_output=True, timeout=60).returncode == 0


@pytest.fixture(scope="session")
def amqp_uri():
    """A vhost of our own, so leftover queues of other runs never interfere."""
    vhost = f"qq-test-{uuid.uuid4().hex[:8]}"
    if _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
            "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"):
        yield f"amqp://guest:guest@{AMQP_HOST}/{quote(vhost, safe='')}"
        _rabbitmqctl("delete_vhost", vhost)
    else:  # no rabbitmqctl here: the default vhost
        yield f"amqp://guest:guest@{AMQP_HOST}//"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def db_factory(tmp_path):
    """``db_factory(name)`` → a database URL of its own for one service."""
    created = []

    def make(name):
        if TEST_DB == "postgres":
            import sqlalchemy as sa
            dbname = f"qq_{name}_{uuid.uuid4().hex[:10]}"
            admin = sa.create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{dbname}"'))
            admin.dispose()
            created.append(dbname)
            return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname
        return f"sqlite:///{tmp_path / (name + '.db')}"

    yield make
    if created:
        import sqlalchemy as sa
        admin = sa.create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            for dbname in created:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def base_config(amqp_uri):
    return {
        "AMQP_URI": amqp_uri,
        "RPC_TIMEOUT_SECONDS": 20,
        "OUTBOX_POLL_SECONDS": 0.1,
        "SWEEP_INTERVAL_SECONDS": 3600,  # tests that sweep set their own
        # Services verify, and rpc()/cluster_proxy sign, the caller with this key.
        "CALLER_SIGNING_KEY": "test-caller-signing-key-0123456789abcdef",
        "ADMIN_HOST": "127.0.0.1",  # admin ports (kernel.health) on loopback, a free one each
    }


@pytest.fixture
def start_service(base_config):
    """``start_service(ServiceClass, **config)`` → a running container, stopped at teardown."""
    containers = []

    def start(cls, **config):
        cfg = dict(base_config)
        cfg.setdefault("WEB_SERVER_ADDRESS", f"127.0.0.1:{free_port()}")
        cfg.update(config)
        container = ServiceContainer(cls, cfg)
        container.start()
        containers.append(container)
        return container

    yield start

    def stop(c):
        try:
            c.stop()
        except Exception:  # already gone: a test may have stopped it itself
            c.kill()

    # together: each takes about a second to drain its consumers
    pool = eventlet.GreenPool()
    for c in containers:
        pool.spawn(stop, c)
    pool.waitall()
    # The event queues are durable and the vhost lives for the whole run:
    # delete this test's queues so no later test consumes its leftovers.
    queues = {ep.queue.name for c in containers for ep in c.entrypoints
              if getattr(ep, "queue", None) is not None}
    queues |= {f"rpc-{c.service_name}" for c in containers}
    if queues:
        with Connection(base_config["AMQP_URI"]) as conn:
            channel = conn.channel()
            for name in queues:
                try:
                    channel.queue_delete(name)
                except Exception:  # already gone: the channel closes on error
                    channel = conn.channel()


@pytest.fixture
def rpc(base_config):
    """``with rpc(caller) as proxy: proxy.appeals.create_appeal(...)``: the kernel's
    standalone client (kernel.leanrpc); green threads may share one proxy."""

    @contextmanager
    def open_proxy(caller=None, **kw):
        with cluster_proxy(base_config, caller, **kw) as proxy:
            yield proxy

    return open_proxy


class EventTap:
    """A real queue bound to a service's event exchange: sees what was published."""

    def __init__(self, amqp_uri, service, pattern="#"):
        self.conn = Connection(amqp_uri)
        self.channel = self.conn.channel()
        exchange = event_exchange(service)
        exchange(self.channel).declare()
        self.queue = Queue(f"tap-{service}-{uuid.uuid4().hex[:8]}", exchange=exchange,
                           routing_key=pattern, exclusive=True, auto_delete=True)
        self.queue(self.channel).declare()
        self.received = []

    def drain(self, until=None, timeout=10.0):
        """Collect messages until ``until(received)`` is true or timeout; returns all."""
        import time
        end = time.monotonic() + timeout
        q = self.queue(self.channel)
        while time.monotonic() < end:
            msg = q.get(no_ack=True)
            if msg is None:
                if until is not None and until(self.received):
                    break
                eventlet.sleep(0.05)
                continue
            body = msg.payload if isinstance(msg.payload, dict) else json.loads(msg.body)
            self.received.append(body)
        return self.received

    def of_type(self, event_type):
        return [e for e in self.received if e["event_type"] == event_type]

    def close(self):
        try:
            self.conn.release()
        except Exception:
            pass


@pytest.fixture
def event_tap(amqp_uri):
    taps = []

    def make(service, pattern="#"):
        tap = EventTap(amqp_uri, service, pattern)
        taps.append(tap)
        return tap

    yield make
    for t in taps:
        t.close()


# -- callers ------------------------------------------------------------------
ENTERPRISE_A = "91433126MA4L00010B"
ENTERPRISE_B = "91433126MA4L00020C"


@pytest.fixture
def callers():
    return {
        "ent_a": Caller(role="enterprise", sub="user-a", org=ENTERPRISE_A),
        "ent_b": Caller(role="enterprise", sub="user-b", org=ENTERPRISE_B),
        "approval": Caller(role="department", sub="clerk-approval", org="approval"),
        "market": Caller(role="department", sub="clerk-market", org="market"),
        "tax": Caller(role="department", sub="clerk-tax", org="tax"),
        "taskforce": Caller(role="taskforce", sub="tf-1", org="taskforce"),
        "hotline": Caller(role="channel", sub="key-12345", org="hotline_12345"),
    }
