"""Rules found broken when the platform was tried as a careless or hostile
caller would (issue #10), each proved against the real broker and database."""
import datetime as dt
import json
from pathlib import Path

import eventlet
import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import select
from sqlalchemy.orm import Session

from kernel.calendar import utcnow
from kernel.config import ROOT
from kernel.db import make_engine
from kernel.errors import BadInput, NotFound
from kernel.rpc import Caller
from services.appeals.models import Appeal, Escalation
from services.appeals.service import AppealsService
from tests.conftest import ENTERPRISE_A
from tests.support.probes import admin_get

pytestmark = pytest.mark.integration

LADDER = ["reminder", "supervision", "talk", "notice", "accountability"]


def hotline_body(**kw):
    body = {"category": "permit", "town": "hongshi", "enterprise_code": ENTERPRISE_A,
            "title": "用电报装", "content": "报装一个月未通电",
            "contact_name": "张明", "contact_phone": "13912340001"}
    body.update(kw)
    return body


def days_ago(n):
    return (utcnow() - dt.timedelta(days=n)).isoformat()


def sweep(container):
    with entrypoint_hook(container, "sweep") as run:
        return run()


class Rows:
    """Reads and (to let time pass) edits the service's rows directly."""

    def __init__(self, url):
        self.engine = make_engine(url)

    def appeal(self, appeal_id):
        with Session(self.engine) as s:
            a = s.get(Appeal, appeal_id)
            s.expunge_all()
            return a

    def escalations(self, appeal_id):
        with Session(self.engine) as s:
            return [(e.round, e.level, e.step) for e in s.execute(
                select(Escalation).where(Escalation.appeal_id == appeal_id)
                .order_by(Escalation.id)).scalars()]

    def overdue_since(self, appeal_id, days):
        """As if ``days`` had passed since the deadline."""
        with Session(self.engine) as s:
            a = s.get(Appeal, appeal_id)
            a.due_at = utcnow() - dt.timedelta(days=days)
            a.next_check_at = utcnow() - dt.timedelta(minutes=1)
            s.commit()

    def close(self):
        self.engine.dispose()


@pytest.fixture
def rows():
    opened = []

    def make(url):
        r = Rows(url)
        opened.append(r)
        return r

    yield make
    for r in opened:
        r.close()


def test_item1_reopened_appeal_escalates_again(start_service, db_factory, rpc, callers, rows):
    # rule: APP-5
    url = db_factory("appeals")
    appeals = start_service(AppealsService, DB_URL=url)
    db = rows(url)
    with rpc(callers["hotline"]) as p:
        a = p.appeals.create_appeal(hotline_body(received_at=days_ago(28)))
    assert sweep(appeals) == 1
    assert [(r, s) for r, _, s in db.escalations(a["id"])] == [(0, s) for s in LADDER]
    # answered late, rated badly: re-opened for the same department
    with rpc(callers["approval"]) as p:
        p.appeals.act(a["id"], "accept", {})
        p.appeals.act(a["id"], "reply", {"content": "已处理"})
    with rpc(callers["ent_a"]) as p:
        again = p.appeals.act(a["id"], "feedback", {"rating": 1})
    assert again["status"] == "accepted" and again["escalation_level"] == 0
    db.overdue_since(a["id"], 30)  # …and it goes overdue again
    assert sweep(appeals) == 1
    # the ladder restarted: a second round, the first kept
    assert db.escalations(a["id"]) == ([(0, i + 1, s) for i, s in enumerate(LADDER)]
                                       + [(1, i + 1, s) for i, s in enumerate(LADDER)])
    after = db.appeal(a["id"])
    assert after.escalation_level == 5 and after.next_check_at is None
    with rpc(callers["taskforce"]) as p:
        history = [h["action"] for h in p.appeals.get_appeal(a["id"])["history"]]
    assert history.count("escalate:accountability") == 2


def metric(container, name):
    r = admin_get(container, "/metrics")  # the admin port (kernel.health)
    for line in r.text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_item1_failing_appeal_never_stalls_the_sweep(start_service, db_factory, rpc, callers,
                                                     rows):
    # rule: APP-5
    url = db_factory("appeals")
    appeals = start_service(AppealsService, DB_URL=url, SWEEP_BATCH=1)
    db = rows(url)
    with rpc(callers["hotline"]) as p:
        broken = p.appeals.create_appeal(hotline_body(received_at=days_ago(28), title="坏"))
        fine = p.appeals.create_appeal(hotline_body(received_at=days_ago(27), title="好"))
    # a row the sweep will collide with whatever it does: a failure that persists
    with Session(db.engine) as s:
        s.add(Escalation(appeal_id=broken["id"], round=0, level=1, step="reminder",
                         department="approval", at=utcnow()))
        s.commit()
    before = utcnow()
    with eventlet.Timeout(20):  # before the fix the sweep looped on the broken one for ever
        assert sweep(appeals) == 1
    assert db.appeal(fine["id"]).escalation_level == 5
    stuck = db.appeal(broken["id"])
    assert stuck.escalation_level == 0 and stuck.sweep_failures == 1
    assert stuck.next_check_at > before  # retried later, not at once
    assert metric(appeals, "qinqing_appeals_sweep_failures_total") == 1
    # the next failure waits longer (back-off)
    first_wait = stuck.next_check_at - before
    db.overdue_since(broken["id"], 30)
    with Session(db.engine) as s:
        s.get(Appeal, broken["id"]).sweep_failures = 1
        s.commit()
    before = utcnow()
    sweep(appeals)
    again = db.appeal(broken["id"])
    assert again.sweep_failures == 2 and again.next_check_at - before > first_wait
    assert metric(appeals, "qinqing_appeals_sweep_failures_total") == 2


def test_under_review_is_cleared_when_the_reopened_appeal_is_rated_satisfied(
        start_service, db_factory, rpc, callers):
    # rule: APP-7
    start_service(AppealsService, DB_URL=db_factory("appeals"))
    with rpc(callers["ent_a"]) as p:
        a = p.appeals.create_appeal(hotline_body(channel="mini_program", enterprise_code=None))
    with rpc(callers["approval"]) as p:
        p.appeals.act(a["id"], "accept", {})
        p.appeals.act(a["id"], "reply", {"content": "已处理"})
    with rpc(callers["ent_a"]) as p:
        reviewed = p.appeals.act(a["id"], "feedback", {"rating": 2})
    assert reviewed["under_review"] is True and reviewed["status"] == "accepted"
    with rpc(callers["approval"]) as p:
        p.appeals.act(a["id"], "reply", {"content": "重新办理, 已解决"})
    with rpc(callers["ent_a"]) as p:
        done = p.appeals.act(a["id"], "feedback", {"rating": 4})
    assert done["status"] == "closed" and done["under_review"] is False
    assert "差评复核结束" in done["history"][-1]["note"]


# -- 8. co-handlers matched exactly ---------------------------------------------------

def profile_with(tmp_path, *codes):
    data = json.loads((ROOT / "config" / "county" / "demo.json").read_text(encoding="utf-8"))
    data["departments"] += [{"code": c, "name": c} for c in codes]
    path = Path(tmp_path) / "county.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_item8_co_handler_codes_match_exactly(start_service, db_factory, rpc, callers, tmp_path):
    # rule: APP-2
    start_service(AppealsService, DB_URL=db_factory("appeals"),
                  COUNTY_PROFILE=profile_with(tmp_path, "road_1", "roadx1", "road%"))
    with rpc(callers["ent_a"]) as p:
        a = p.appeals.create_appeal(hotline_body(channel="mini_program", enterprise_code=None))
    with rpc(callers["taskforce"]) as p:
        p.appeals.act(a["id"], "assign", {"department": "approval", "co_departments": ["roadx1"]})
    road_1 = Caller(role="department", sub="clerk-r", org="road_1")
    road_pct = Caller(role="department", sub="clerk-p", org="road%")
    roadx1 = Caller(role="department", sub="clerk-x", org="roadx1")
    for outsider in (road_1, road_pct):
        with rpc(outsider) as p:
            assert p.appeals.list_appeals({})["items"] == []  # `_` and `%` are not wildcards
            with pytest.raises(NotFound):
                p.appeals.get_appeal(a["id"])
    with rpc(roadx1) as p:
        assert [i["id"] for i in p.appeals.list_appeals({})["items"]] == [a["id"]]
        assert p.appeals.get_appeal(a["id"])["co_departments"] == ["roadx1"]
    # re-assigned: the co-handler changes, and so does who sees it
    with rpc(callers["taskforce"]) as p:
        p.appeals.act(a["id"], "assign", {"department": "approval", "co_departments": ["road_1"]})
    with rpc(roadx1) as p:
        assert p.appeals.list_appeals({})["items"] == []
    with rpc(road_1) as p:
        assert [i["id"] for i in p.appeals.list_appeals({})["items"]] == [a["id"]]


# -- 2. back-dating --------------------------------------------------------------------

def test_item2_received_at_only_recent_and_only_for_channels_that_record_it(
        start_service, db_factory, rpc, callers):
    # rule: APP-4
    start_service(AppealsService, DB_URL=db_factory("appeals"), RECEIVED_AT_MAX_DAYS=30)
    refused = [
        (callers["hotline"], hotline_body(received_at=days_ago(400))),  # years back: refused
        (callers["hotline"], hotline_body(received_at=days_ago(31))),  # just past the bound
        (callers["hotline"], hotline_body(received_at=(utcnow() + dt.timedelta(hours=1))
                                          .isoformat())),  # the future
        # the mini-program records its own time: nobody back-dates through it
        (callers["taskforce"], hotline_body(channel="mini_program", received_at=days_ago(2))),
        (callers["ent_a"], hotline_body(channel="mini_program", enterprise_code=None,
                                        received_at=days_ago(1))),
    ]
    for caller, body in refused:
        with rpc(caller) as p:
            with pytest.raises(BadInput) as err:
                p.appeals.create_appeal(body)
        assert list(err.value.errors) == ["received_at"], (caller.role, err.value.errors)
    with rpc(callers["taskforce"]) as p:
        assert p.appeals.list_appeals({})["items"] == []  # nothing stored
    # a call taken 29 days ago and entered now; a symposium's note entered by staff
    with rpc(callers["hotline"]) as p:
        a = p.appeals.create_appeal(hotline_body(received_at=days_ago(29)))
    with rpc(callers["taskforce"]) as p:
        b = p.appeals.create_appeal(hotline_body(channel="symposium", received_at=days_ago(3)))
    assert a["received_at"] < b["received_at"] < utcnow().isoformat()


# -- 4. channels by role ----------------------------------------------------------------

def test_item4_each_role_files_only_through_its_own_channels(start_service, db_factory, rpc,
                                                            callers):
    # rule: APP-1
    start_service(AppealsService, DB_URL=db_factory("appeals"))
    ent_body = hotline_body(enterprise_code=None)
    for channel in ("leaders_wechat", "hotline_12345", "symposium", "supervisor"):
        with rpc(callers["ent_a"]) as p:
            with pytest.raises(BadInput) as err:
                p.appeals.create_appeal({**ent_body, "channel": channel})
        assert list(err.value.errors) == ["channel"], channel
    for channel in ("mini_program", "one_tap"):  # an enterprise's own, online
        with rpc(callers["approval"]) as p:
            with pytest.raises(BadInput) as err:
                p.appeals.create_appeal(hotline_body(channel=channel))
        assert list(err.value.errors) == ["channel"], channel
    with rpc(callers["taskforce"]) as p:
        assert p.appeals.list_appeals({})["items"] == []
    # what each may use; the tier follows the channel recorded
    with rpc(callers["ent_a"]) as p:
        mine = p.appeals.create_appeal({**ent_body, "channel": "mini_program"})
        tap = p.appeals.create_appeal({**ent_body, "channel": "one_tap"})
    with rpc(callers["approval"]) as p:
        noted = p.appeals.create_appeal(hotline_body(channel="symposium"))
    with rpc(callers["taskforce"]) as p:
        letter = p.appeals.create_appeal(hotline_body(channel="leaders_wechat"))
    with rpc(callers["hotline"]) as p:  # a channel key: its own channel, whatever it says
        call = p.appeals.create_appeal(hotline_body(channel="leaders_wechat"))
    assert [(x["channel"], x["tier"]) for x in (mine, tap, noted, letter, call)] == [
        ("mini_program", "yellow"), ("one_tap", "yellow"), ("symposium", "yellow"),
        ("leaders_wechat", "red"), ("hotline_12345", "yellow")]
