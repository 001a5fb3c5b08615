"""A poison message is set aside in the dead-letter queue after its attempts,
its consumer keeps going, and the command replays it after a fix. Real broker
(the chaos node), real PostgreSQL."""
import time

import pytest

from kernel.deadletters import list_deadletters, replay_deadletters
from services.appeals.service import AppealsService
from tests.chaos.conftest import count
from tests.chaos.recorder.service import RecorderService
from tests.conftest import ENTERPRISE_A, ENTERPRISE_B
from tests.integration.test_reliability import wait_for
from tests.support.probes import scrape_until

pytestmark = pytest.mark.chaos


def appeal(enterprise, title="停电"):
    return {"channel": "hotline_12345", "category": "permit", "town": "hongshi",
            "enterprise_code": enterprise, "title": title, "content": "报装一个月未通电",
            "contact_name": "张明", "contact_phone": "13912340001"}




def test_poison_message_is_set_aside_and_replayed_after_a_fix(
        start_service, db_factory, rpc, callers, amqp_uri):
    # rule: APP-1 (nothing accepted is lost: a failing event waits in the dead-letter queue)
    recorder_db = db_factory("recorder")
    start_service(AppealsService, DB_URL=db_factory("appeals"))
    RecorderService.broken_for = {ENTERPRISE_B}  # the "bug"
    recorder = start_service(RecorderService, DB_URL=recorder_db, CONSUMER_MAX_ATTEMPTS=3,
                             CONSUMER_RETRY_BACKOFF_SECONDS=0.05)
    try:
        with rpc(callers["hotline"]) as p:
            poison = p.appeals.create_appeal(appeal(ENTERPRISE_B))["id"]
            good = [p.appeals.create_appeal(appeal(ENTERPRISE_A, f"t{i}"))["id"] for i in range(5)]
        created = lambda: {r[0] for r in count(  # noqa: E731
            recorder_db, "SELECT appeal_id FROM received WHERE event_type = 'appeal.created'")}
        # the consumer kept going: every good appeal is recorded, the poison one is not
        assert wait_for(lambda: created() == set(good), timeout=120)
        assert wait_for(lambda: len(list_deadletters(amqp_uri, "recorder")) == 1, timeout=120)
        [letter] = list_deadletters(amqp_uri, "recorder")  # listing leaves it there
        assert letter["event_type"] == "appeal.created" and letter["attempts"] == 3
        assert letter["error"].startswith("Poisoned: cannot handle this one yet")
        assert letter["queue"] == "evt-appeals-appeal.created--recorder.on_created"
        assert letter["handler"] == "on_created"
        text = scrape_until(recorder, ['qinqing_dead_letters_total{error="Poisoned",handler="on_created"} 1.0'])
        assert 'qinqing_dead_letters_total{error="Poisoned",handler="on_created"} 1.0' in text
        assert 'qinqing_consumer_retries_total{handler="on_created"} 2.0' in text
        # a later good event still flows while the letter waits
        with rpc(callers["hotline"]) as p:
            later = p.appeals.create_appeal(appeal(ENTERPRISE_A, "later"))["id"]
        assert wait_for(lambda: later in created(), timeout=120)
        assert created() == set(good) | {later}

        RecorderService.broken_for = set()  # the fix
        replayed = replay_deadletters(amqp_uri, "recorder")
        assert [r["message_id"] for r in replayed] == [letter["message_id"]]
        assert wait_for(lambda: poison in created(), timeout=120)
        assert list_deadletters(amqp_uri, "recorder") == []
        # each event of every appeal recorded exactly once
        rows = count(recorder_db, "SELECT event_id, count(*) FROM received GROUP BY event_id")
        assert rows and all(n == 1 for _, n in rows)
        assert len(rows) == 3 * (len(good) + 2)  # created, assigned, status_changed each
    finally:
        RecorderService.broken_for = set()
