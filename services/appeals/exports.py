"""Ledger exports as jobs (APP-8): the ledger's rows streamed from the database
in pages into a file, with progress; the caller downloads it in chunks.

A job belongs to the caller who started it (role, organisation and subject)
and sees the rows that caller may see (GW-2). The file lives in EXPORT_DIR on
the instance that wrote it: several instances need that directory shared.
"""
import json
import logging
import uuid

from sqlalchemy import BigInteger, Integer, JSON, String, func, select
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


def _owner(caller):
    return f"{caller.role}:{caller.org}:{caller.sub}"


def out(job):
    return {"id": job.id, "status": job.status, "format": job.format, "filename": job.filename,
            "content_type": kx.CONTENT_TYPES[job.format], "rows_done": job.rows_done,
            "rows_total": job.rows_total, "size": job.size, "created_at": job.created_at,
            "finished_at": job.finished_at}


def create(store, raw_query, query, caller, now):
    """A queued job for ``query`` (validated) and how many rows it will hold."""
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


def run(store, job_id, directory, page_rows=1000):
    """Write the job's file, page by page (keyset on the id), then mark it done."""
    with store.reading() as s:
        job = s.get(ExportJob, job_id)
        caller = Caller(role=job.caller["role"], sub=job.caller["sub"], org=job.caller["org"],
                        scopes=tuple(job.caller["scopes"]))
        query, fmt, created = schemas.load(schemas.ExportQuery, job.query), job.format, job.created_at
    path = directory / f"{job_id}.{fmt}"
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
    except Exception:  # a managed thread that raises would kill the container
        _log.exception("export %s failed", job_id)
        kx.remove_quietly(path)
        _update(store, job_id, status=kx.FAILED, finished_at=utcnow())
        return
    _update(store, job_id, status=kx.DONE, rows_done=done, rows_total=done,
            size=path.stat().st_size, finished_at=utcnow())


def _update(store, job_id, **values):
    with store.transaction() as s:
        job = s.get(ExportJob, job_id)
        for k, v in values.items():
            setattr(job, k, v)


def find(store, job_id, caller):
    """The caller's own job, else NotFound (another's is as if it did not exist)."""
    with store.reading() as s:
        job = s.get(ExportJob, job_id) if isinstance(job_id, str) and len(job_id) <= 32 else None
        if job is None or job.owner != _owner(caller):
            raise NotFound("no such export")
        return out(job)


def chunk(store, job_id, caller, offset, directory):
    job = find(store, job_id, caller)
    if job["status"] != kx.DONE:
        raise NotFound("the export is not ready")
    return kx.read_chunk(directory / f"{job_id}.{job['format']}", offset)
