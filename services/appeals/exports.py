"""Ledger exports as jobs (APP-8): the ledger's rows streamed from the database
in pages into a file, with progress; the caller downloads it in chunks.

A job belongs to the caller who started it (role, organisation and subject)
and sees the rows that caller may see (GW-2). The instance that runs the job
writes the file in its scratch directory (EXPORT_DIR), then stores its bytes in
``export_chunks`` (256 KiB a row) and removes the scratch file: whichever
replica a download lands on reads the chunks from the shared database, one at
a time. A job and its chunks go EXPORT_TTL_SECONDS after it started (purged
when the next job starts; until then an expired job is as if it did not exist).
"""
import datetime as dt
import json
import logging
import uuid

from sqlalchemy import JSON, BigInteger, Integer, LargeBinary, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from kernel import exports as kx
from kernel.calendar import SHANGHAI, utcnow
from kernel.db import UTCDateTime
from kernel.errors import NotFound
from kernel.rpc import Caller

from . import ledger, schemas
from .models import Appeal, Base

_log = logging.getLogger(__name__)


class ExportJob(Base):
    __tablename__ = "export_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(240), index=True)  # role:org:sub
    caller: Mapped[dict] = mapped_column(JSON)
    query: Mapped[dict] = mapped_column(JSON)
    format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    filename: Mapped[str] = mapped_column(String(100))
    created_at = mapped_column(UTCDateTime, nullable=False)
    finished_at = mapped_column(UTCDateTime, nullable=True)


class ExportChunk(Base):
    """One piece of a finished export's file, in order of ``seq``."""
    __tablename__ = "export_chunks"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


TTL_SECONDS = 24 * 3600  # how long a finished export can be downloaded


def _owner(caller):
    return f"{caller.role}:{caller.org}:{caller.sub}"


def out(job):
    return {"id": job.id, "status": job.status, "format": job.format, "filename": job.filename,
            "content_type": kx.CONTENT_TYPES[job.format], "rows_done": job.rows_done,
            "rows_total": job.rows_total, "size": job.size, "created_at": job.created_at,
            "finished_at": job.finished_at}


def create(store, raw_query, query, caller, now, ttl=TTL_SECONDS):
    """A queued job for ``query`` (validated) and how many rows it will hold.
    Every job older than ``ttl`` seconds goes first, with its file's chunks."""
    purge(store, now - dt.timedelta(seconds=ttl))
    stamp = now.astimezone(SHANGHAI).strftime("%Y%m%d-%H%M")
    with store.reading() as s:
        total = s.execute(select(func.count()).select_from(
            ledger.filtered(query, caller, now).subquery())).scalar_one()
    job = ExportJob(id=uuid.uuid4().hex, owner=_owner(caller),
                    caller={"role": caller.role, "sub": caller.sub, "org": caller.org,
                            "scopes": list(caller.scopes)},
                    query=json.loads(json.dumps(raw_query, default=str)), format=query["format"],
                    status=kx.QUEUED, rows_done=0, rows_total=min(total, query["limit"]), size=0,
                    filename=f"appeals-{stamp}.{query['format']}", created_at=now)
    with store.transaction() as s:
        s.add(job)
        s.flush()
        return out(job)


def purge(store, before):
    """Remove the jobs started before ``before`` and their chunks. Safe on
    several instances at once (plain deletes by key)."""
    with store.transaction() as s:
        old = select(ExportJob.id).where(ExportJob.created_at < before)
        s.execute(delete(ExportChunk).where(ExportChunk.job_id.in_(old)))
        s.execute(delete(ExportJob).where(ExportJob.created_at < before))


def run(store, job_id, directory, page_rows=1000):
    """Write the job's file, page by page (keyset on the id), into a scratch
    file in ``directory``; store it as chunks; then mark the job done."""
    with store.reading() as s:
        job = s.get(ExportJob, job_id)
        caller = Caller(role=job.caller["role"], sub=job.caller["sub"], org=job.caller["org"],
                        scopes=tuple(job.caller["scopes"]))
        query, fmt, created = schemas.load(schemas.ExportQuery, job.query), job.format, job.created_at
    path = kx.scratch_file(directory, f".{fmt}")
    _update(store, job_id, status=kx.RUNNING)

    def pages():
        last, left = 0, query["limit"]
        while left > 0:
            with store.reading() as s:
                rows = s.execute(ledger.filtered(query, caller, created).where(Appeal.id > last)
                                 .order_by(Appeal.id).limit(min(page_rows, left))).scalars().all()
                if not rows:
                    return
                cells = [[ledger._cell(a, k) for k, _ in ledger.EXPORT_COLUMNS] for a in rows]
                last, left = rows[-1].id, left - len(rows)
            yield cells

    try:
        done = kx.write_pages(path, fmt, [zh for _, zh in ledger.EXPORT_COLUMNS], pages(),
                              lambda n: _update(store, job_id, rows_done=n), sheet_title="诉求台账")
        size = _store_file(store, job_id, path)
    except Exception:  # a managed thread that raises would kill the container
        _log.exception("export %s failed", job_id)
        _failed(store, job_id)
        return
    finally:
        kx.remove_quietly(path)
    _update(store, job_id, status=kx.DONE, rows_done=done, rows_total=done, size=size,
            finished_at=utcnow())


def _failed(store, job_id):
    """Mark the job failed, its partial chunks gone; if the database itself is
    what failed, the job stays as it was (it expires like any other)."""
    try:
        with store.transaction() as s:
            s.execute(delete(ExportChunk).where(ExportChunk.job_id == job_id))
        _update(store, job_id, status=kx.FAILED, finished_at=utcnow())
    except Exception:
        _log.exception("export %s: could not record its failure", job_id)


def _store_file(store, job_id, path):
    """The file's bytes into ``export_chunks``, one chunk per transaction (memory:
    one chunk); its size. The job is marked done only after the last one."""
    size = 0
    for seq, data in enumerate(kx.file_chunks(path)):
        with store.transaction() as s:
            s.add(ExportChunk(job_id=job_id, seq=seq, data=data))
        size += len(data)
    return size


def _update(store, job_id, **values):
    with store.transaction() as s:
        job = s.get(ExportJob, job_id)
        for k, v in values.items():
            setattr(job, k, v)


def find(store, job_id, caller, now=None, ttl=TTL_SECONDS):
    """The caller's own job, else NotFound (another's, or an expired one, is as
    if it did not exist)."""
    now = now or utcnow()
    with store.reading() as s:
        job = s.get(ExportJob, job_id) if isinstance(job_id, str) and len(job_id) <= 32 else None
        if job is None or job.owner != _owner(caller) \
                or job.created_at < now - dt.timedelta(seconds=ttl):
            raise NotFound("no such export")
        return out(job)


def chunk(store, job_id, caller, offset, ttl=TTL_SECONDS):
    """Up to one chunk of the finished file from byte ``offset`` (b"" past its
    end), read from the database: any instance answers it."""
    job = find(store, job_id, caller, ttl=ttl)
    if job["status"] != kx.DONE:
        raise NotFound("the export is not ready")
    seq, skip = kx.chunk_at(offset)
    with store.reading() as s:
        data = s.execute(select(ExportChunk.data).where(
            ExportChunk.job_id == job["id"], ExportChunk.seq == seq)).scalar_one_or_none()
    return bytes(data[skip:]) if data else b""
