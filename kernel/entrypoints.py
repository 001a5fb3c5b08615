"""What every service's entrypoints do the same way, written once: reading
an id from a caller (and its row, or 404), the task-force-only gate, an
idempotent create, a sweep's due rows, and mapping a lost optimistic-lock race
to 409."""
import contextlib
import hashlib
import json

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from .errors import Conflict, Forbidden, NotFound
from .fields import MAX_ID


def object_id(value, what="item") -> int:
    """An id from outside: anything that is not a positive 64-bit integer is
    simply not there (404 "no such <what>"), never a 500 or a hint."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise NotFound(f"no such {what}")
    if not 1 <= n <= MAX_ID:  # beyond, the database would refuse the number itself
        raise NotFound(f"no such {what}")
    return n


def get_or_404(session, model, value, what):
    """The ``model`` row whose id ``value`` came from outside, or 404 "no such <what>"."""
    row = session.get(model, object_id(value, what))
    if row is None:
        raise NotFound(f"no such {what}")
    return row


def read_one(db, model, value, what, answer, check=None):
    """A get-one entrypoint's whole read, in one read session: the row whose id
    came from outside, ``check(row)`` when given (who may see it; it answers
    404 for a missing row too), else 404 "no such <what>" when missing; then
    ``answer(session, row)``."""
    with db.reading() as s:
        row = s.get(model, object_id(value, what))
        if check is not None:
            check(row)
        elif row is None:
            raise NotFound(f"no such {what}")
        return answer(s, row)


def due_ids(session, when, now, limit=500):
    """A sweep's work: the ids of the rows whose indexed next-check time
    ``when`` (a mapped column) has come, earliest first, at most ``limit``;
    the sweep then handles each in a transaction of its own."""
    return session.execute(select(when.class_.id).where(when <= now)
                           .order_by(when).limit(limit)).scalars().all()


def require_staff(caller_identity):
    """The caller, when it is the task force (or an admin); 403 otherwise."""
    caller = caller_identity.require()
    if not caller.is_staff:
        raise Forbidden("only the task force may do this")
    return caller


def scoped_key(caller, key):
    """An idempotency key scoped to the caller, hashed to a fixed width
    whatever the caller's ids: the same key from two callers is two keys."""
    return hashlib.sha256(json.dumps([caller.role, caller.sub, caller.org, key]).encode()).hexdigest()


def create_once(key, find, create):
    """Create something at most once per idempotency ``key`` (None: no key).

    ``find(key)`` answers the existing one or None; ``create()`` makes it in
    its own transaction. When the same key races in twice, the unique index
    refuses the second insert and the first one's answer is returned."""
    if key is not None:
        existing = find(key)
        if existing is not None:
            return existing
    try:
        return create()
    except IntegrityError:
        existing = find(key) if key is not None else None
        if existing is None:
            raise
        return existing


@contextlib.contextmanager
def stale_is_conflict(what="the item"):
    """A row's version column lost a race with another writer: 409, read again."""
    try:
        yield
    except StaleDataError:
        raise Conflict(f"{what} changed meanwhile; read it again and retry")


def service_dependencies(migrations_dir, outbox_table, processed_table):
    """A base class with what every service declares: its database (migrated at
    start), the outbox relay, the caller identity, metrics, call-id logging, the
    admin port (/healthz, /readyz, /metrics off the public network), the audit
    trail with its staff-only export, and the liveness ``/healthz`` and ``ping``.
    A service adds its own ``rules`` dependency: ``class X(service_dependencies(…))``."""
    # imported here: these modules build on nameko's extensions, the helpers above do not
    import json

    from nameko.web.handlers import http

    from .audit import AuditExport, AuditTrail
    from .db import Database
    from .health import AdminServer
    from .logs import CallIdLogging
    from .metrics import Metrics
    from .outbox import OutboxRelay
    from .rpc import CallerIdentity, rpc

    class ServiceDependencies(AuditExport):
        db = Database(migrations_dir)
        outbox = OutboxRelay(outbox_table)
        caller = CallerIdentity()
        metrics = Metrics()
        logs = CallIdLogging()
        admin = AdminServer()  # /healthz, /readyz, /metrics on ADMIN_PORT
        audit = AuditTrail()  # who wrote what, when (audit_log, append-only)

        @http("GET", "/healthz")
        def healthz(self, request):
            return 200, json.dumps({"status": "ok", "service": self.name})

        @rpc
        def ping(self):
            with self.db.reading() as s:
                s.execute(select(1))
            return {"service": self.name, "status": "ok"}

    ServiceDependencies.processed_table = processed_table
    return ServiceDependencies
