"""The outbox writes each event's envelope directly (issue #16): it must be
exactly what the Envelope contract dumps, and load back through it."""
import json
from types import SimpleNamespace

from kernel.contracts import Envelope
from kernel.outbox import OutboxRelay
from kernel.schemas import shared
from services.appeals.models import outbox_table


class _Session:
    def __init__(self):
        self.info, self.rows = {}, []

    def connection(self):
        return self  # the INSERT goes to the session's connection

    def execute(self, statement, rows):
        self.rows += rows


def test_staged_envelope_is_what_the_contract_dumps_and_loads():
    # rule: none — issue #16 (the outbox's own envelope, no marshmallow per event)
    relay = OutboxRelay(outbox_table)
    relay.service = "appeals"
    session = _Session()
    data = {"appeal_id": 7, "status": "assigned", "tier": "yellow", "channel": "mini_program",
            "category": "permit", "enterprise_code": "91433126MA4L00010B",
            "lead_department": "approval", "co_departments": ["market"], "due_at": None,
            "previous_department": None}
    ids = relay.stage_many(session, [("appeal.assigned", data)],
                           SimpleNamespace(call_id_stack=["gw.1"], data={}))
    assert session.info["outbox_dirty"] is True
    [row] = session.rows
    envelope = json.loads(row["payload"])
    assert envelope["event_id"] == ids[0] and row["event_type"] == "appeal.assigned"
    assert row["headers"] == {"nameko.call_id_stack": ["gw.1"]}
    loaded = shared(Envelope).load(envelope)
    assert shared(Envelope).dump(loaded) == envelope  # the same keys, values and order
    assert list(envelope) == list(shared(Envelope).dump(loaded))
    assert envelope["source"] == "appeals" and envelope["data"]["appeal_id"] == 7
