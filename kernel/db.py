"""Each service owns its database: a SQLite file by default, PostgreSQL when
``DB_URL`` says so. Migrations (Alembic, one folder per service) run at start,
under a lock on PostgreSQL so two instances starting together do not race.
"""
import contextlib
import datetime as dt
import hashlib
import logging
import os
from pathlib import Path

import eventlet.patcher
from eventlet.semaphore import Semaphore
from alembic import command
from alembic.config import Config as AlembicConfig
from nameko.extensions import DependencyProvider
from sqlalchemy import DateTime, create_engine, event, text
from sqlalchemy.orm import sessionmaker
from sqlalchemy.types import TypeDecorator

from kernel.config import ROOT, setting

_log = logging.getLogger(__name__)

if eventlet.patcher.is_monkey_patched("socket"):
    # psycopg2 waits in C unless told to yield: without this one green thread
    # waiting on a row lock would freeze every other in the process.
    from psycogreen.eventlet import patch_psycopg
    patch_psycopg()


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out; stored naive UTC so SQLite and PostgreSQL agree."""
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


_SQLITE_WRITERS = {}


def _sqlite_writer_lock(path):
    # One lock per file, shared by every engine on it in this process (two
    # containers of one service in one process, as in tests, share it too).
    key = os.path.abspath(path) if path and path != ":memory:" else id(object())
    return _SQLITE_WRITERS.setdefault(key, Semaphore(1))


def normalise_url(url):
    # SQLAlchemy 2.1 reads "postgresql://" as psycopg 3, which blocks under
    # eventlet; the project's driver is psycopg2 (made green by psycogreen).
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def make_engine(url, **kwargs):
    # A failed statement's message and SQLAlchemy's logs leave out the bound
    # values: they hold names, phone numbers and e-mail addresses.
    kwargs.setdefault("hide_parameters", True)
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below decide
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        # SQLite allows one writer. Within a process, green threads queue on a
        # green lock (sqlite's own busy wait would block the whole process,
        # freezing the very thread that holds the lock); across processes,
        # BEGIN IMMEDIATE takes the write lock up front so a second instance
        # waits (busy_timeout) instead of failing on upgrade.
        writer = _sqlite_writer_lock(path)

        def _release(conn):
            if conn.info.pop("qq_writer", False):
                writer.release()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            writer.acquire()
            conn.info["qq_writer"] = True
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except Exception:
                _release(conn)
                raise

        event.listen(engine, "commit", _release)
        event.listen(engine, "rollback", _release)

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def migrate(engine, migrations_dir):
    """Bring the schema to head. Safe to call from several instances at once."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("path_separator", "os")
    lock_key = int(hashlib.sha1(str(migrations_dir).encode()).hexdigest()[:15], 16)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key})
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key})
                conn.commit()


def run_migrations_env(target_metadata):
    """Body of every service's ``migrations/env.py`` (online mode, given connection)."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:  # `alembic` run by hand: take DB_URL from the environment
        engine = make_engine(os.environ["DB_URL"])
        with engine.connect() as connection:
            _configure_and_run(context, connection, target_metadata)
            connection.commit()
        return
    _configure_and_run(context, connection, target_metadata)


def _configure_and_run(context, connection, target_metadata):
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


class Store:
    """What a worker gets: a transaction scope and a read session."""

    def __init__(self, engine, factory):
        self.engine = engine
        self._factory = factory

    @contextlib.contextmanager
    def transaction(self):
        """One unit of work: commits on success, rolls back on any error."""
        session = self._factory()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    @contextlib.contextmanager
    def reading(self):
        session = self._factory()
        try:
            yield session
        finally:
            session.rollback()
            session.close()


def pool_settings(config, url):
    """The connection pool's bounds (``DB_POOL_SIZE``, ``DB_MAX_OVERFLOW``):
    replicas × (size + overflow) of every service must fit the database's
    connection budget (k8s/: the pooler in front of PostgreSQL)."""
    if normalise_url(url).startswith("sqlite"):
        return {}
    return {"pool_size": int(setting(config, "DB_POOL_SIZE", 10)),
            "max_overflow": int(setting(config, "DB_MAX_OVERFLOW", 20))}


def _truthy(value):
    return str(value).strip().lower() not in ("0", "false", "no", "off", "")


class Database(DependencyProvider):
    """The service's own database. ``DB_URL`` in the service's config, else a
    SQLite file ``var/<service>.db`` under the project root. Migrates at start
    unless ``DB_MIGRATE_ON_START`` is false (Kubernetes migrates in an init
    container on a direct connection: the pooler's transaction mode cannot
    hold the migration's session lock)."""

    def __init__(self, migrations_dir):
        self.migrations_dir = Path(migrations_dir)

    def setup(self):
        name = self.container.service_name
        default = f"sqlite:///{ROOT / 'var' / (name + '.db')}"
        config = self.container.config
        self.url = setting(config, "DB_URL") or default
        self.engine = make_engine(self.url, **pool_settings(config, self.url))
        if _truthy(setting(config, "DB_MIGRATE_ON_START", "true")):
            migrate(self.engine, self.migrations_dir)
        self.factory = sessionmaker(self.engine, expire_on_commit=False)
        self.store = Store(self.engine, self.factory)

    def stop(self):
        self.engine.dispose()

    def kill(self):
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        return self.store
