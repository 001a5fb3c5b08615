"""What the scoring service hears and says on the real broker: ratings and the
work's own figures from the appeals and inspections events (counted once,
however often an event is delivered), overdue follow-ups escalated by the sweep."""
import datetime as dt
import uuid

import pytest

from kernel.calendar import utcnow
from kernel.db import make_engine
from services.scoring.service import ScoringService
from tests.conftest import ENTERPRISE_A, ENTERPRISE_B
from tests.integration.test_reliability import publish, query, wait_for

pytestmark = pytest.mark.integration


def appeal(appeal_id, lead="approval", enterprise=ENTERPRISE_A, **extra):
    return {"appeal_id": appeal_id, "status": "closed", "tier": "yellow",
            "channel": "mini_program", "category": "permit", "enterprise_code": enterprise,
            "lead_department": lead, "co_departments": [], "due_at": None, **extra}


def visit(inspection_id, rules, department="market"):
    return {"inspection_id": inspection_id, "kind": "routine", "status": "approved",
            "entry_code": "green", "department": department, "departments": [department],
            "enterprise_code": ENTERPRISE_A, "planned_date": utcnow().date().isoformat(),
            "violations": [{"rule": r, "message": r} for r in rules]}


def envelope(event_type, source, data):
    return {"event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": 1,
            "occurred_at": utcnow().isoformat(), "source": source, "data": data}


def test_a_redelivered_appeal_rating_counts_once(start_service, db_factory, amqp_uri, rpc,
                                                 callers, event_tap):
    # rule: SCO-1, SCO-7
    db_url = db_factory("scoring")
    start_service(ScoringService, DB_URL=db_url, SCO_RED_LIST=1, SCO_BLACK_LIST=1)
    tap = event_tap("scoring", "rating.bad")
    rated = appeal(7, rating=1, dissatisfied=True)
    event_id = publish(amqp_uri, "appeals", "appeal.rated", rated)
    publish(amqp_uri, "appeals", "appeal.rated", rated, event_id)  # the broker redelivers
    publish(amqp_uri, "appeals", "appeal.rated", rated)  # the same rating, a new event id
    publish(amqp_uri, "appeals", "appeal.replied",
            appeal(7, replied_at=utcnow().isoformat(), on_time=False))
    publish(amqp_uri, "appeals", "appeal.escalated",
            appeal(8, level=2, step="supervision", overdue_working_days=1))
    publish(amqp_uri, "appeals", "appeal.escalated",  # a later step of the same appeal
            appeal(8, level=3, step="talk", overdue_working_days=3))
    marker = appeal(9, lead="tax", enterprise=ENTERPRISE_B, rating=5, dissatisfied=False)
    publish(amqp_uri, "appeals", "appeal.rated", marker)
    # inspections: the same visit's quiet-day breach on filing and on approval
    for event_type in ("inspection.filed", "inspection.approved"):
        extra = {"filed_by": "clerk"} if event_type == "inspection.filed" else {
            "decided_by": "tf-head", "automatic": False, "note": None}
        publish(amqp_uri, "inspections", event_type, {**visit(3, ["INS-2", "INS-3"]), **extra})
    late = {**visit(4, []), "reason": "late_filing", "due_at": utcnow().isoformat(),
            "filed_at": utcnow().isoformat()}
    flagged_id = publish(amqp_uri, "inspections", "inspection.flagged", late)
    publish(amqp_uri, "inspections", "inspection.flagged", late, flagged_id)

    engine = make_engine(db_url)
    handled = lambda: query(engine, "SELECT count(*) FROM processed_events")[0][0]  # noqa: E731
    assert wait_for(lambda: handled() == 9)  # 11 deliveries, 2 of them redelivered ids
    with rpc(callers["taskforce"]) as proxy:
        ratings = proxy.scoring.list_ratings({})
        assert sorted((r["service_event"], r["score"], r["source"]) for r in ratings) == [
            ("appeal:7", 1, "appeal"), ("appeal:9", 5, "appeal")]
        month = ratings[0]["period"]
        notice = proxy.scoring.monthly_notice({"month": month})
    tap.drain(until=lambda r: len(r) >= 1, timeout=5)
    assert len(tap.of_type("rating.bad")) == 1  # one follow-up, one event
    scores = {r["department"]: r for r in notice["scores"]}
    approval, market = scores["approval"], scores["market"]
    assert (approval["rated"], approval["rating_total"], approval["replied"],
            approval["replied_on_time"], approval["overdue"]) == (1, 1, 1, 0, 1)
    assert (market["quiet_day_violations"], market["cap_violations"],
            market["late_filings"]) == (1, 1, 1)
    # weights of config/scoring.yaml's defaults: 40·on-time + 40·satisfaction − …
    assert approval["composite"] == round(40 * 0 + 40 * (1 / 5) - 2 * 1, 2)
    assert market["composite"] == 40 + 40 - 5 - 5 - 3
    assert (notice["red"], notice["black"]) == (["tax"], ["approval"])
    assert query(engine, "SELECT count(*) FROM followups")[0][0] == 1
    engine.dispose()


def test_an_overdue_follow_up_climbs_the_ladder_once_per_step(start_service, db_factory, rpc,
                                                               callers, event_tap):
    # rule: SCO-1 (差评必纠: overdue follow-ups escalate)
    db_url = db_factory("scoring")
    tap = event_tap("scoring", "followup.*")
    start_service(ScoringService, DB_URL=db_url, SWEEP_INTERVAL_SECONDS=0.2)
    with rpc(callers["ent_a"]) as proxy:
        rating = proxy.scoring.rate({"subject_code": "win_tax_1", "service_event": "T-1",
                                     "score": 2})
    # the case was opened a month ago: every step of the ladder is due
    engine = make_engine(db_url)
    past = (utcnow() - dt.timedelta(days=30)).replace(tzinfo=None)
    with engine.begin() as c:
        c.exec_driver_sql("UPDATE followups SET due_at = ?, next_check_at = ?"
                          if engine.dialect.name == "sqlite" else
                          "UPDATE followups SET due_at = %s, next_check_at = %s", (past, past))
    tap.drain(until=lambda r: len(r) >= 3, timeout=20)
    tap.drain(timeout=0.6)  # nothing more comes
    steps = [(e["data"]["level"], e["data"]["step"]) for e in tap.of_type("followup.overdue")]
    assert steps == [(1, "supervision"), (2, "talk"), (3, "notice")]
    assert tap.of_type("followup.overdue")[0]["data"]["followup_id"] == rating["followup_id"]
    with rpc(callers["taskforce"]) as proxy:
        followup = proxy.scoring.get_followup(rating["followup_id"])
    assert followup["escalation_level"] == 3 and followup["status"] == "open"
    engine.dispose()
