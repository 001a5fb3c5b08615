"""kernel.deadletters: a handler whose ack meets a dropped connection does not
take its container down (seen in the broker-restart chaos run: nameko's ack
catches amqp's ConnectionError only, and a socket error from a worker killed
the whole consumer service)."""
import pytest
from amqp.exceptions import ConnectionForced

from kernel.deadletters import ReliableEventHandler


class _Consumer:
    def __init__(self, error):
        self.error, self.calls = error, []

    def ack_message(self, message):
        self.calls.append(("ack", message))
        if self.error:
            raise self.error

    requeue_message = ack_message


def handler(consumer):
    h = ReliableEventHandler.__new__(ReliableEventHandler)  # no container: only settling
    h.queue_consumer, h.event_type = consumer, "appeal.created"
    return h


@pytest.mark.parametrize("error", [ConnectionResetError(104, "reset"), BrokenPipeError(32, "pipe"),
                                   ConnectionForced("closed")])
def test_a_lost_connection_at_the_ack_is_not_an_error(error):
    # rule: APP-1 (nothing accepted is lost: the unacked message comes again)
    consumer = _Consumer(error)
    handler(consumer).handle_message_processed("m1")
    assert consumer.calls == [("ack", "m1")]


def test_a_clean_ack_acks_and_anything_else_still_raises():
    consumer = _Consumer(None)
    handler(consumer).handle_message_processed("m2")
    assert consumer.calls == [("ack", "m2")]
    with pytest.raises(ValueError):
        handler(_Consumer(ValueError("a bug"))).handle_message_processed("m3")
