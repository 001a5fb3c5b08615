"""One request id from the caller through RPC and events into every log line
(issue 17: follow one request across services)."""
import logging
import time

import eventlet
import pytest
from nameko.events import event_handler

from kernel.logs import CallIdLogging, ContextFilter
from services.appeals.service import AppealsService
from tests.conftest import ENTERPRISE_A

pytestmark = pytest.mark.integration

_log = logging.getLogger("tests.request_trace")


class AppealWatcher:
    """A consumer of appeals' events, as scoring and notify are."""
    name = "appeal_watcher"
    logs = CallIdLogging()

    @event_handler("appeals", "appeal.created")
    def on_created(self, body):
        _log.info("saw %s", body["event_type"])


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.addFilter(ContextFilter())
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_request_id_reaches_the_service_and_the_consumers_of_its_events(
        start_service, db_factory, rpc, callers):
    # rule: ops (issue 17)
    records = Records()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(records)
    root.setLevel(logging.INFO)
    try:
        start_service(AppealsService, DB_URL=db_factory("appeals"))
        start_service(AppealWatcher)
        with rpc(callers["hotline"], request_id="trace-evt-1") as p:
            p.appeals.create_appeal({
                "channel": "hotline_12345", "category": "permit", "town": "hongshi",
                "enterprise_code": ENTERPRISE_A, "title": "t", "content": "c",
                "contact_name": "张明", "contact_phone": "13912340001"})
        end = time.monotonic() + 20
        seen = []
        while time.monotonic() < end and not seen:
            seen = [r for r in records.records if r.name == "tests.request_trace"]
            eventlet.sleep(0.1)
    finally:
        root.removeHandler(records)
        root.setLevel(old_level)
    assert seen, "the consumer never saw appeal.created"
    assert seen[0].request_id == "trace-evt-1"
    assert seen[0].service == "appeal_watcher" and seen[0].entrypoint == "on_created"
    # the service's own lines: tests/integration/test_gateway_auth.py (from the gateway)
