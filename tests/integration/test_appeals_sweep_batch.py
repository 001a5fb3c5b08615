"""The sweep in pages (issue #16): due appeals read in keyset pages of
SWEEP_BATCH, each page computed in memory and written in one transaction.
Against the real database: no appeal at a page's edge is skipped or done
twice, a page that fails as a whole is done again one by one, and the ladder's
rules hold (APP-5)."""
import datetime as dt
import json
from collections import Counter

import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from kernel.calendar import utcnow
from kernel.db import make_engine
from services.appeals.models import Appeal, Escalation
from services.appeals.service import AppealsService
from tests.conftest import ENTERPRISE_A

pytestmark = pytest.mark.integration

LADDER = ["reminder", "supervision", "talk", "notice", "accountability"]


def body(title, **kw):
    out = {"category": "permit", "town": "hongshi", "enterprise_code": ENTERPRISE_A,
           "title": title, "content": "报装一个月未通电", "contact_name": "张明",
           "contact_phone": "13912340001"}
    out.update(kw)
    return out


def sweep(container):
    with entrypoint_hook(container, "sweep") as run:
        return run()


@pytest.fixture
def ledger(start_service, db_factory, rpc, callers):
    """``ledger(n, batch)`` → (container, engine, ids): n appeals being handled,
    all due at the very same instant (ties across every page edge)."""
    engines = []

    def make(n, batch, **config):
        url = db_factory("appeals")
        container = start_service(AppealsService, DB_URL=url, SWEEP_BATCH=batch, **config)
        with rpc(callers["hotline"]) as p:
            ids = [p.appeals.create_appeal(body(f"t{i}"))["id"] for i in range(n)]
        engine = make_engine(url)
        engines.append(engine)
        due_at(engine, ids, days=30)
        return container, engine, ids

    yield make
    for e in engines:
        e.dispose()


def due_at(engine, ids, days, at=None):
    """As if ``days`` had passed since their deadline; all checked at ``at``."""
    at = at or utcnow() - dt.timedelta(minutes=5)
    with Session(engine) as s:
        for appeal_id in ids:
            a = s.get(Appeal, appeal_id)
            a.due_at = utcnow() - dt.timedelta(days=days)
            a.next_check_at = at
        s.commit()


def steps(engine):
    with Session(engine) as s:
        return Counter((e.appeal_id, e.round, e.step) for e in s.execute(select(Escalation)).scalars())


def events(engine):
    """(appeal_id, event_type, step) of every event staged in the outbox."""
    with engine.connect() as c:
        rows = c.execute(text("SELECT event_type, payload FROM outbox")).all()
    out = Counter()
    for event_type, payload in rows:
        data = json.loads(payload)["data"]
        out[(data.get("appeal_id"), event_type, data.get("step"))] += 1
    return out


def ladder_events(engine):
    return Counter({k: v for k, v in events(engine).items()
                    if k[1] in ("appeal.due_soon", "appeal.escalated")})


@pytest.mark.parametrize("n, batch", [(6, 3), (7, 3), (2, 5)])
def test_every_due_appeal_is_swept_once_across_page_edges(ledger, n, batch):
    # rule: APP-5
    # n a multiple of the page (the last page full, then an empty one), one
    # more than a multiple (an appeal alone on the last page), fewer than a page
    appeals, engine, ids = ledger(n, batch)
    assert sweep(appeals) == n
    assert steps(engine) == Counter({(i, 0, s): 1 for i in ids for s in LADDER})
    want = Counter({(i, "appeal.due_soon", None): 1 for i in ids})
    want.update({(i, "appeal.escalated", s): 1 for i in ids for s in LADDER[1:]})
    assert ladder_events(engine) == want
    with Session(engine) as s:
        rows = s.execute(select(Appeal).where(Appeal.id.in_(ids))).scalars().all()
        # created (1), made due by the test (2), swept once (3)
        assert {(a.escalation_level, a.next_check_at, a.version) for a in rows} == {(5, None, 3)}
        history = s.execute(text("SELECT appeal_id, action FROM appeal_history "
                                 "WHERE action LIKE 'escalate:%'")).all()
    assert Counter(history) == Counter({(i, f"escalate:{s}"): 1 for i in ids for s in LADDER})
    assert sweep(appeals) == 0  # nothing left, nothing done twice
    assert ladder_events(engine) == want


def test_steps_due_later_wait_and_the_next_check_moves_on(ledger):
    # rule: APP-5
    appeals, engine, ids = ledger(4, 3)
    # two only a working day or so late: reminder and supervision are due, talk (+3) is not
    due_at(engine, ids[:2], days=0)
    assert sweep(appeals) == 4
    got = steps(engine)
    for i in ids[:2]:
        assert {s for (a, _, s) in got if a == i} == {"reminder", "supervision"}
    with Session(engine) as s:
        late = [s.get(Appeal, i) for i in ids[:2]]
        assert all(a.escalation_level == 2 and a.next_check_at > utcnow() for a in late)
    assert sweep(appeals) == 0


def test_replied_appeals_do_not_climb_and_close_at_the_feedback_timeout(ledger, rpc, callers):
    # rule: APP-5, APP-6
    appeals, engine, ids = ledger(5, 2)
    replied = ids[1:3]
    with rpc(callers["approval"]) as p:
        for i in replied:
            p.appeals.act(i, "accept", {})
            p.appeals.act(i, "reply", {"content": "已处理"})
    due_at(engine, ids, days=30)  # every one checked now, the replied ones too
    assert sweep(appeals) == 5
    got = steps(engine)
    assert not [k for k in got if k[0] in replied]
    closed = Counter({k: v for k, v in events(engine).items() if k[1] == "appeal.closed"})
    assert closed == Counter({(i, "appeal.closed", None): 1 for i in replied})
    with Session(engine) as s:
        for i in replied:
            a = s.get(Appeal, i)
            assert a.status == "closed" and a.closed_at is not None and a.next_check_at is None
        others = [s.get(Appeal, i) for i in ids if i not in replied]
        assert all(a.escalation_level == 5 for a in others)


def test_a_reopened_appeal_starts_a_new_round_in_the_batch(ledger, rpc, callers):
    # rule: APP-5, APP-7
    appeals, engine, ids = ledger(3, 2)
    assert sweep(appeals) == 3
    target = ids[1]
    with rpc(callers["approval"]) as p:
        p.appeals.act(target, "accept", {})
        p.appeals.act(target, "reply", {"content": "已处理"})
    with rpc(callers["ent_a"]) as p:
        again = p.appeals.act(target, "feedback", {"rating": 1})
    assert again["escalation_level"] == 0
    due_at(engine, [target], days=30)
    assert sweep(appeals) == 1
    got = steps(engine)
    assert [s for (a, r, s) in got if a == target and r == 1] == LADDER
    assert all(v == 1 for v in got.values())
    assert ladder_events(engine)[(target, "appeal.escalated", "accountability")] == 2


def test_a_page_that_fails_as_a_whole_is_done_one_by_one_without_its_events(ledger):
    # rule: APP-5
    appeals, engine, ids = ledger(4, 10)
    broken = ids[2]
    with Session(engine) as s:  # a row the page's INSERT collides with
        s.add(Escalation(appeal_id=broken, round=0, level=1, step="reminder",
                         department="approval", at=utcnow()))
        s.commit()
    before = utcnow()
    assert sweep(appeals) == 3
    # the rolled-back page left no event behind: the others' steps once each
    want = Counter({(i, "appeal.due_soon", None): 1 for i in ids if i != broken})
    want.update({(i, "appeal.escalated", s): 1 for i in ids if i != broken for s in LADDER[1:]})
    assert ladder_events(engine) == want
    with Session(engine) as s:
        stuck = s.get(Appeal, broken)
        assert stuck.escalation_level == 0 and stuck.sweep_failures == 1
        assert stuck.next_check_at > before


def test_a_batched_page_is_on_the_audit_trail(ledger):
    # rule: APP-5 (and the audit trail, issue #14): the page's Core writes are recorded
    # with the timer as their credential, each climbed appeal by its id
    container, engine, ids = ledger(5, batch=2)
    sweep(container)
    with engine.connect() as c:
        rows = c.execute(text("SELECT entrypoint, credential, changes FROM audit_log "
                              "WHERE entrypoint = 'sweep'")).all()
    assert rows and all(r.credential == "system:timer" for r in rows)
    changes = [ch for r in rows for ch in (r.changes if isinstance(r.changes, list)
                                             else json.loads(r.changes))]
    assert {ch["key"] for ch in changes if ch["table"] == "appeals" and ch["op"] == "update"} \
        == {str(i) for i in ids}
    assert any(ch["table"] == "escalations" and ch["op"] == "insert" for ch in changes)
