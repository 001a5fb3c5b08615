"""A consumer process killed (SIGKILL) or asked to stop (SIGTERM) in the
middle of a burst: what it held unacked comes again and takes effect once;
on SIGTERM it takes nothing new, finishes what is in hand and exits.
The recorder runs as its own process (nameko run, as in production)."""
import datetime as dt
import signal
import time
import uuid

import pytest
from kombu import Connection, Producer

from kernel.contracts import SCHEMA_VERSION
from kernel.outbox import event_exchange
from tests.chaos.conftest import count, record_figures
from tests.chaos.processes import ServiceProcess
from tests.conftest import ENTERPRISE_A
from tests.integration.test_reliability import wait_for

pytestmark = pytest.mark.chaos

BURST = 300
QUEUE = "evt-appeals-appeal.created--recorder.on_created"


def burst(amqp_uri, n):
    """n appeal.created events, as the appeals outbox would publish them."""
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    ids = []
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel(), exchange=event_exchange("appeals"), serializer="json")
        for i in range(n):
            event_id = str(uuid.uuid4())
            producer.publish({
                "event_id": event_id, "event_type": "appeal.created",
                "schema_version": SCHEMA_VERSION, "occurred_at": now, "source": "appeals",
                "data": {"appeal_id": i + 1, "status": "assigned", "tier": "yellow",
                         "channel": "hotline_12345", "category": "permit",
                         "enterprise_code": ENTERPRISE_A, "lead_department": "approval",
                         "co_departments": [], "due_at": None, "received_at": now}},
                routing_key="appeal.created", delivery_mode=2)
            ids.append(event_id)
    return ids


def ready_in_queue(amqp_uri):
    with Connection(amqp_uri) as conn:
        return conn.channel().queue_declare(QUEUE, passive=True)[1]




def recorder(amqp_uri, db_url, tmp_path):
    return ServiceProcess("tests.chaos.recorder.service:RecorderService",
                          {"AMQP_URI": amqp_uri, "DB_URL": db_url, "max_workers": 10},
                          tmp_path, env={"RECORDER_DELAY_SECONDS": "0.1"})


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_consumer_process_stopped_mid_burst(sig, db_factory, amqp_uri, tmp_path):
    # rule: APP-1 (nothing accepted is lost; each event takes effect once)
    db_url = db_factory("recorder")
    first = recorder(amqp_uri, db_url, tmp_path).start()
    second = recorder(amqp_uri, db_url, tmp_path)
    try:
        sent = burst(amqp_uri, BURST)
        handled = lambda: count(db_url, "SELECT count(*) FROM received")[0][0]  # noqa: E731
        assert wait_for(lambda: handled() >= BURST // 4, timeout=120)
        at_signal = handled()
        first.signal(sig)
        code = first.wait(timeout=30)  # SIGTERM: exits by itself within its grace period
        at_exit = handled()
        assert at_signal < BURST and at_exit < BURST  # stopped mid-burst
        if sig == signal.SIGTERM:
            assert code == 0
            assert at_exit > at_signal  # what it had in hand was finished, not dropped
            # it took nothing new: the rest waits in the queue, none acked unhandled
            assert ready_in_queue(amqp_uri) >= BURST - at_exit
        second.start()
        assert wait_for(lambda: handled() >= BURST, timeout=120)
        time.sleep(1.5)  # anything more would be a duplicate
        rows = dict(count(db_url, "SELECT event_id, count(*) FROM received GROUP BY event_id"))
        duplicates = sum(n - 1 for n in rows.values())
        assert set(rows) == set(sent) and duplicates == 0
        assert count(db_url, "SELECT count(*) FROM processed_events")[0][0] == BURST
        record_figures(f"consumer_{sig.name.lower()}", {
            "events_sent": BURST, "handled_before_signal": at_signal,
            "handled_when_process_ended": at_exit, "events_handled": len(rows),
            "duplicates": duplicates})
    finally:
        first.close()
        second.close()
