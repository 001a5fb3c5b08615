"""Scoring in the kernel's one service shape: its writes land in its audit
trail, and its admin port answers the probes. Real broker, real database."""
import pytest

from kernel.errors import BadInput, Forbidden
from services.scoring.service import ScoringService
from tests.conftest import ENTERPRISE_A
from tests.support.probes import admin_get, scrape_until

pytestmark = pytest.mark.integration


def test_a_rating_is_audited_with_caller_and_request_id_and_the_admin_port_is_ready(
        start_service, db_factory, rpc, callers):
    # rule: SCO-1 (a rating is on record: who rated, under which request), GW-2
    scoring = start_service(ScoringService, DB_URL=db_factory("scoring"),
                            GAUGE_INTERVAL_SECONDS=0.2)
    with rpc(callers["ent_a"], request_id="req-scoring-1") as p:
        rating = p.scoring.rate({"subject_code": "win_tax_1", "service_event": "T-9", "score": 2})
        with pytest.raises(BadInput):  # refused: changes nothing, so no audit row
            p.scoring.rate({"subject_code": "nowhere", "service_event": "T-9", "score": 2})
        with pytest.raises(Forbidden):  # the trail is the task force's to read
            p.scoring.export_audit()
    with rpc(callers["taskforce"]) as p:
        rows = p.scoring.export_audit()
    assert [r["entrypoint"] for r in rows] == ["rate"]
    [row] = rows
    assert row["service"] == "scoring" and row["request_id"] == "req-scoring-1"
    assert row["credential"] == f"enterprise:user-a@{ENTERPRISE_A}"
    assert {"table": "ratings", "op": "insert", "key": str(rating["id"])} in row["changes"]

    ready = admin_get(scoring, "/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"service": "scoring", "database": "ok", "broker": "ok",
                            "status": "ready"}
    # the bad rating opened a follow-up: the business gauge is on the admin port's /metrics
    text = scrape_until(scoring, ["qinqing_scoring_followups_open 1.0"])
    assert "qinqing_scoring_followups_open 1.0" in text
