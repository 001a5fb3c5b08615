"""Audit trail: every write says who, when, what, and under which request.

``audit = AuditTrail()`` on a service (beside its ``Database``) records, in
the same transaction as the write itself, one ``audit_log`` row per committed
transaction of an entrypoint that changed something: the credential (the
caller's role, subject and organisation, as authenticated by the gateway),
the time, the entrypoint, the request id and call id, and what changed (each
table, operation and key). A write that rolls back leaves no audit row, as it
leaves no change. The kernel's bookkeeping (outbox, processed events) is not
audited; scheduled jobs are recorded as ``system:timer``, event handlers as
``event:<source>``.

The table is append-only: triggers refuse UPDATE and DELETE (PostgreSQL and
SQLite alike). Export: ``AuditExport`` gives a service the staff-only RPC
``export_audit`` (the gateway's ``GET /api/v1/audit/{service}``), and
``python -m kernel.audit --db URL`` prints it as JSON lines.
"""
import argparse
import json
import sys

from eventlet.corolocal import local
from nameko.extensions import DependencyProvider
from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table, select
from sqlalchemy import event as sa_event
from sqlalchemy.orm import object_mapper

from kernel.calendar import utcnow
from kernel.db import Database, UTCDateTime, make_engine
from kernel.errors import Forbidden
from kernel.rpc import Caller, caller_signing_key, rpc

_BIGINT = BigInteger().with_variant(Integer, "sqlite")
NOT_AUDITED = frozenset({"outbox", "processed_events", "audit_log"})
MAX_CHANGES = 100  # per row; a bulk import says "and n more"


def define_audit_table(metadata):
    return Table(
        "audit_log", metadata,
        Column("id", _BIGINT, primary_key=True, autoincrement=True),
        Column("at", UTCDateTime, nullable=False),
        Column("service", String(64), nullable=False),
        Column("entrypoint", String(128), nullable=False),
        Column("credential", String(200), nullable=False),
        Column("request_id", String(128), nullable=True),
        Column("call_id", String(255), nullable=True),
        Column("changes", JSON, nullable=False),
        Index("ix_audit_log_at", "at"),
    )


AUDIT_LOG = define_audit_table(MetaData())

_TRIGGERS = {
    "postgresql": [
        """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
           BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
           FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    ],
    "sqlite": [
        """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
        """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    ],
}


def create_audit_table(op):
    """For a service's migration: the table and its append-only triggers."""
    bind = op.get_bind()
    define_audit_table(MetaData()).create(bind)
    for statement in _TRIGGERS.get(bind.dialect.name, []):
        op.execute(statement)


def drop_audit_table(op):
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("audit_log")


def credential_of(worker_ctx):
    # the caller as the service verifies it (kernel.rpc): signed and unexpired, else none
    caller = Caller.from_header(worker_ctx.data.get("caller"),
                                caller_signing_key(worker_ctx.container.config))
    if caller is not None:
        return f"{caller.role}:{caller.sub}" + (f"@{caller.org}" if caller.org else "")
    kind = type(worker_ctx.entrypoint).__name__
    if "Timer" in kind:
        return "system:timer"
    if "EventHandler" in kind:
        return f"event:{worker_ctx.entrypoint.source_service}"
    return "anonymous"


def _key(obj):
    try:
        return "/".join(str(v) for v in object_mapper(obj).primary_key_from_instance(obj))
    except Exception:  # not mapped
        return None


def note_changes(session, table, op, keys=(None,)):
    """Writes that bypass the ORM (Core statements on the session's connection,
    for speed) are named by their writer, so the audit trail still records
    them with the transaction (``AuditTrail`` reads them at commit)."""
    if table in NOT_AUDITED:
        return
    session.info.setdefault("qq_audit", []).extend(
        {"table": table, "op": op, "key": None if k is None else str(k)} for k in keys)


class AuditTrail(DependencyProvider):

    def setup(self):
        self.db = next(d for d in self.container.dependencies if isinstance(d, Database))
        self.current = local()  # the worker of this green thread

    def start(self):
        factory = self.db.factory  # exists once the Database is set up

        @sa_event.listens_for(factory, "after_flush")
        def _after_flush(session, _flush_context):
            if getattr(self.current, "ctx", None) is None:
                return
            changes = session.info.setdefault("qq_audit", [])
            for op, objs in (("insert", session.new), ("update", session.dirty),
                             ("delete", session.deleted)):
                for obj in objs:
                    table = getattr(obj, "__tablename__", None)
                    if table and table not in NOT_AUDITED and (
                            op != "update" or session.is_modified(obj)):
                        changes.append({"table": table, "op": op, "key": _key(obj)})

        @sa_event.listens_for(factory, "do_orm_execute")
        def _statement(state):
            if getattr(self.current, "ctx", None) is None or state.is_select:
                return
            table = getattr(getattr(state.statement, "table", None), "name", None)
            if table and table not in NOT_AUDITED:
                op = "insert" if state.is_insert else "update" if state.is_update else "delete"
                state.session.info.setdefault("qq_audit", []).append(
                    {"table": table, "op": op, "key": None})

        @sa_event.listens_for(factory, "before_commit")
        def _before_commit(session):
            ctx = getattr(self.current, "ctx", None)
            if ctx is None:
                return
            session.flush()  # what is still pending is part of the write too
            changes = session.info.pop("qq_audit", None)
            if changes:
                self._record(session, ctx, changes)

        @sa_event.listens_for(factory, "after_rollback")
        def _after_rollback(session):
            session.info.pop("qq_audit", None)

    def _record(self, session, ctx, changes):
        unique = list({json.dumps(c, sort_keys=True): c for c in changes}.values())
        if len(unique) > MAX_CHANGES:
            unique = unique[:MAX_CHANGES] + [{"more": len(unique) - MAX_CHANGES}]
        session.execute(AUDIT_LOG.insert().values(
            at=utcnow(), service=self.container.service_name,
            entrypoint=ctx.entrypoint.method_name, credential=credential_of(ctx)[:200],
            request_id=ctx.data.get("request_id"), call_id=(ctx.call_id or "")[:255],
            changes=unique))

    def worker_setup(self, worker_ctx):
        self.current.ctx = worker_ctx

    def worker_teardown(self, worker_ctx):
        self.current.ctx = None

    def get_dependency(self, worker_ctx):
        return self

    def export(self, since=None, after_id=0, limit=1000):
        with self.db.store.reading() as s:
            return export_rows(s, since, after_id, limit)


def export_rows(session, since=None, after_id=0, limit=1000):
    t = AUDIT_LOG
    q = select(t).where(t.c.id > int(after_id or 0)).order_by(t.c.id).limit(min(int(limit), 10000))
    if since is not None:
        q = q.where(t.c.at >= since)
    return [{**row._asdict(), "at": row.at.isoformat()} for row in session.execute(q)]


class AuditExport:
    """A base for a service class: the staff-only ``export_audit`` RPC (needs ``audit``
    and ``caller`` dependencies)."""

    @rpc
    def export_audit(self, query=None):
        caller = self.caller.require()
        if caller.role not in ("taskforce", "admin", "system"):
            raise Forbidden("only the task force may export the audit trail")
        query = dict(query or {})
        return self.audit.export(after_id=query.get("after_id", 0),
                                 limit=query.get("limit", 1000))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kernel.audit",
                                     description="Print a service's audit trail as JSON lines.")
    parser.add_argument("--db", required=True, help="the service's DB_URL")
    parser.add_argument("--after-id", type=int, default=0)
    parser.add_argument("--limit", type=int, default=10000)
    args = parser.parse_args(argv)
    engine = make_engine(args.db)
    with engine.connect() as conn:
        from sqlalchemy.orm import Session
        with Session(conn) as s:
            for row in export_rows(s, after_id=args.after_id, limit=args.limit):
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    engine.dispose()


if __name__ == "__main__":
    main()
