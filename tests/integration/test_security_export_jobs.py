"""Exports as jobs (issue 13): streamed from the database in pages into a file,
with progress, downloaded in chunks; the service answers other calls while one
runs; another caller never sees the job. Real broker and database."""
import base64
import csv
import io

import eventlet
import pytest
import sqlalchemy as sa

from kernel.db import normalise_url
from kernel.errors import NotFound
from services.appeals.service import AppealsService

pytestmark = pytest.mark.integration

ROWS = 6000


@pytest.fixture
def appeals(start_service, db_factory, tmp_path):
    return start_service(AppealsService, DB_URL=db_factory("appeals"),
                         EXPORT_DIR=str(tmp_path / "exports"), EXPORT_PAGE_ROWS=200)


def _copies(container, n):
    """``n`` more rows like the first appeal, inserted directly (a big ledger, fast)."""
    engine = sa.create_engine(normalise_url(container.config["DB_URL"]))
    table = sa.Table("appeals", sa.MetaData(), autoload_with=engine)
    with engine.begin() as c:
        first = dict(c.execute(sa.select(table).limit(1)).mappings().one())
        rows = [{**first, "id": None, "idempotency_key": None, "title": f"台账 {i}"}
                for i in range(n)]
        for row in rows:
            row.pop("id")
        c.execute(table.insert(), rows)
    engine.dispose()


def _download(proxy, job):
    data, offset = b"", 0
    while True:
        part = base64.b64decode(proxy.appeals.export_chunk(job["id"], offset)["content_base64"])
        if not part:
            return data
        data, offset = data + part, offset + len(part)


def test_an_export_is_a_job_with_progress_and_the_service_keeps_answering(appeals, rpc, callers):
    # rule: APP-8
    with rpc(callers["ent_a"]) as p:
        p.appeals.create_appeal({"channel": "mini_program", "category": "permit", "town": "hongshi",
                                 "title": "=1+1", "content": "内容", "contact_name": "张明",
                                 "contact_phone": "13912340001"})
    _copies(appeals, ROWS - 1)
    seen_running, pings = set(), 0
    with rpc(callers["taskforce"]) as p:
        job = p.appeals.start_export({"format": "csv"})
        assert job["status"] == "queued" and job["rows_total"] == ROWS
        for _ in range(600):
            status = p.appeals.export_status(job["id"])
            if status["status"] == "running":
                seen_running.add(status["rows_done"])
                assert p.appeals.ping()["status"] == "ok"  # answered while the export runs
                pings += 1
            if status["status"] == "done":
                break
            eventlet.sleep(0.02)
        assert status["status"] == "done" and status["rows_done"] == ROWS and status["size"] > 0
        assert pings and any(0 < n < ROWS for n in seen_running)  # progress, page by page
        data = _download(p, job)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == ROWS + 1 and rows[1][6] == "'=1+1"  # neutralised (OWASP)

    # another caller: the job does not exist for them
    for who in ("ent_a", "market", "hotline"):
        with rpc(callers[who]) as p:
            with pytest.raises(NotFound):
                p.appeals.export_status(job["id"])
            with pytest.raises(NotFound):
                p.appeals.export_chunk(job["id"], 0)


def test_an_export_holds_only_what_its_caller_may_see(appeals, rpc, callers):
    # rule: APP-8
    with rpc(callers["ent_a"]) as p:
        p.appeals.create_appeal({"channel": "mini_program", "category": "permit", "town": "hongshi",
                                 "title": "审批", "content": "内容", "contact_name": "张明",
                                 "contact_phone": "13912340001"})
    with rpc(callers["tax"]) as p:  # the tax bureau handles none of them
        job = p.appeals.start_export({"format": "xlsx"})
        for _ in range(300):
            if p.appeals.export_status(job["id"])["status"] == "done":
                break
            eventlet.sleep(0.05)
        status = p.appeals.export_status(job["id"])
    assert status["status"] == "done" and status["rows_done"] == 0 and status["rows_total"] == 0


def test_exports_through_the_gateway_start_progress_and_download(start_service, db_factory,
                                                                 tmp_path):
    # rule: APP-8
    from tests.integration.test_gateway_kit import Stack, appeal_body, bearer
    stack = Stack(start_service, db_factory)
    try:
        stack.appeals.stop()  # this test's appeals service writes its files under tmp_path
        stack.appeals = start_service(AppealsService, DB_URL=db_factory("appeals"),
                                      EXPORT_DIR=str(tmp_path / "exports"))
        api = stack.gateway()
        ent = bearer("enterprise", "91433126MA4L00010B", sub="user-a")
        assert api.post("/api/v1/appeals", who=ent, json=appeal_body(
            title="@SUM(1)", enterprise_code=None)).status_code == 201
        tf = bearer("taskforce", "taskforce", sub="tf-1")
        assert api.post("/api/v1/appeals/exports", who=ent, params={"format": "csv"}).status_code == 403
        started = api.post("/api/v1/appeals/exports", who=tf, params={"format": "csv"})
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        for _ in range(200):
            job = api.get(location, who=tf).json()
            if job["status"] == "done":
                break
            eventlet.sleep(0.05)
        assert job["status"] == "done" and job["rows_done"] == 1 and job["download"]
        other = bearer("taskforce", "taskforce", sub="tf-2")  # another person's job: not there
        assert api.get(location, who=other).status_code == 404
        assert api.get(job["download"], who=other).status_code == 404
        assert api.get("/api/v1/exports/not-a-job", who=tf).status_code == 404
        got = api.get(job["download"], who=tf)
        assert got.status_code == 200 and got.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
        assert len(rows) == 2 and rows[1][6] == "'@SUM(1)"
    finally:
        stack.close()


def _wait_done(api, location, who):
    for _ in range(300):
        job = api.get(location, who=who).json()
        if job["status"] in ("done", "failed"):
            return job
        eventlet.sleep(0.05)
    return job


def test_a_download_lands_on_a_replica_that_did_not_write_the_file(db_factory, start_service,
                                                                   tmp_path):
    # rule: APP-8 — two replicas of the appeals service on one database, each
    # with its own scratch directory (no shared volume): the job runs on one,
    # that one goes away, and the other serves the download.
    from tests.integration.test_gateway_kit import Stack, appeal_body, bearer
    stack = Stack(start_service, db_factory)
    try:
        url = stack.appeals.config["DB_URL"]
        stack.appeals.stop()
        first = start_service(AppealsService, DB_URL=url, EXPORT_DIR=str(tmp_path / "one"),
                              EXPORT_PAGE_ROWS=50)
        stack.appeals = first
        api = stack.gateway()
        ent = bearer("enterprise", "91433126MA4L00010B", sub="user-a")
        assert api.post("/api/v1/appeals", who=ent, json=appeal_body(
            title="+副本 0", enterprise_code=None)).status_code == 201
        _copies(first, 2999)  # a file of several chunks
        tf = bearer("taskforce", "taskforce", sub="tf-1")
        started = api.post("/api/v1/appeals/exports", who=tf, params={"format": "csv"})
        assert started.status_code == 202, started.text
        job = _wait_done(api, started.headers["Location"], tf)
        assert job["status"] == "done" and job["rows_done"] == 3000, job
        assert job["size"] > 256 * 1024  # more than one chunk to fetch
        assert not any((tmp_path / "one").iterdir())  # no file left behind on the writer

        second = start_service(AppealsService, DB_URL=url, EXPORT_DIR=str(tmp_path / "two"))
        first.stop()
        stack.appeals = second
        got = api.get(job["download"], who=tf)
        assert got.status_code == 200, got.text
        assert int(got.headers["Content-Length"]) == job["size"] == len(got.content)
        rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
        assert len(rows) == 3001 and rows[1][6] == "'+副本 0"
        assert {r[6] for r in rows[2:]} == {f"台账 {i}" for i in range(2999)}
        # the other replica keeps who may download: another person's job is not there
        other = bearer("taskforce", "taskforce", sub="tf-2")
        assert api.get(job["download"], who=other).status_code == 404
        assert api.get(job["download"], who=bearer("department", "tax", sub="clerk-tax")
                       ).status_code == 404
    finally:
        stack.close()


def test_an_expired_export_is_gone_with_its_file(db_factory, start_service, tmp_path, rpc,
                                                 callers):
    # db_factory first: its database outlives the container at teardown
    # rule: APP-8 — finished files do not pile up in the database
    url = db_factory("appeals")
    start_service(AppealsService, DB_URL=url, EXPORT_DIR=str(tmp_path / "x"),
                  EXPORT_TTL_SECONDS=2)
    with rpc(callers["ent_a"]) as p:
        p.appeals.create_appeal({"channel": "mini_program", "category": "permit", "town": "hongshi",
                                 "title": "审批", "content": "内容", "contact_name": "张明",
                                 "contact_phone": "13912340001"})
    engine = sa.create_engine(normalise_url(url))

    def chunks(job_id):
        with engine.connect() as c:
            return c.execute(sa.text("SELECT count(*) FROM export_chunks WHERE job_id = :j"),
                             {"j": job_id}).scalar_one()

    try:
        with rpc(callers["taskforce"]) as p:
            job = p.appeals.start_export({"format": "xlsx"})
            for _ in range(100):
                if p.appeals.export_status(job["id"])["status"] == "done":
                    break
                eventlet.sleep(0.05)
            assert chunks(job["id"]) >= 1 and p.appeals.export_chunk(job["id"], 0)["content_base64"]
            eventlet.sleep(2.2)
            with pytest.raises(NotFound):  # expired: as if it never existed
                p.appeals.export_status(job["id"])
            with pytest.raises(NotFound):
                p.appeals.export_chunk(job["id"], 0)
            after = p.appeals.start_export({"format": "csv"})  # the next job purges the old one
            for _ in range(100):
                if p.appeals.export_status(after["id"])["status"] == "done":
                    break
                eventlet.sleep(0.05)
        assert chunks(job["id"]) == 0 and chunks(after["id"]) == 1
    finally:
        engine.dispose()
