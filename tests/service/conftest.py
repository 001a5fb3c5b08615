"""The service-layer tier: a service's entrypoints run in-process, through
nameko's ``entrypoint_hook``, against its real database (SQLite file, or
PostgreSQL with ``QQ_TEST_DB=postgres``) — no broker. Events are read from
the outbox table where the entrypoint staged them, in its transaction."""
import json

import pytest
from nameko.containers import ServiceContainer
from nameko.testing.services import entrypoint_hook
from sqlalchemy import select

from kernel.db import Database
from kernel.outbox import OutboxRelay
from kernel.rpc import caller_signing_key


class InProcess:
    """One service's container with its dependencies set up and started,
    except the outbox relay (nothing is published; events stay staged)."""

    def __init__(self, container):
        self.container = container
        self.store = next(d for d in container.dependencies if isinstance(d, Database)).store
        self.outbox_table = next(d for d in container.dependencies
                                 if isinstance(d, OutboxRelay)).table

    def call(self, method, *args, caller=None, **kwargs):
        key = caller_signing_key(self.container.config)  # signed as the gateway signs it
        data = {"caller": caller.to_header(key)} if caller is not None else {}
        with entrypoint_hook(self.container, method, context_data=data) as hook:
            return hook(*args, **kwargs)

    def as_(self, caller):
        """``svc.as_(caller).method(args…)``: a call made by ``caller``."""
        outer = self

        class _Bound:
            def __getattr__(self, method):
                return lambda *a, **kw: outer.call(method, *a, caller=caller, **kw)
        return _Bound()

    def events(self, event_type=None):
        with self.store.reading() as s:
            rows = s.execute(select(self.outbox_table.c.event_type, self.outbox_table.c.payload)
                             .order_by(self.outbox_table.c.created_at)).all()
        return [json.loads(p)["data"] for t, p in rows if event_type in (None, t)]


@pytest.fixture
def in_process(db_factory):
    """``in_process(ServiceClass, **config)`` → an ``InProcess`` service."""
    made = []

    def make(cls, **config):
        cfg = {"AMQP_URI": "memory://", "DB_URL": db_factory(cls.name), **config}
        container = ServiceContainer(cls, cfg)
        for dep in container.dependencies:
            dep.setup()
        for dep in container.dependencies:
            if not isinstance(dep, OutboxRelay):  # nothing to publish to
                dep.start()
        made.append(container)
        return InProcess(container)

    yield make
    for container in made:
        container._died.send(None)  # releases entrypoint_hook's watcher threads
        for dep in container.dependencies:
            dep.stop()
