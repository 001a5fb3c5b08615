"""The lean RPC transport's pure parts (kernel/leanrpc.py): context headers,
the reply payload a worker's outcome becomes, and where a reply is sent.
The broker itself is exercised in tests/integration/test_rpc_transport.py."""
import sys

import kombu.serialization
import pytest
from eventlet.semaphore import Semaphore
from kombu.exceptions import EncodeError
from nameko.exceptions import deserialize

from kernel.errors import NotFound
from kernel.leanrpc import DIRECT_REPLY_TO, RpcServer, context_of, headers_of


def test_context_data_crosses_as_nameko_headers_and_none_is_dropped():
    data = {"caller": "payload.mac", "call_id_stack": ["gateway.get.1"], "request_id": None}
    headers = headers_of(data)
    assert headers == {"nameko.caller": "payload.mac", "nameko.call_id_stack": ["gateway.get.1"]}
    assert context_of(headers) == {"caller": "payload.mac", "call_id_stack": ["gateway.get.1"]}
    assert context_of(None) == {}


class _Channel:
    def __init__(self):
        self.published, self.acked = [], []

    def basic_publish(self, msg, exchange, routing_key):
        self.published.append((exchange, routing_key, msg))

    def basic_ack(self, tag):
        self.acked.append(tag)


class _Link:
    alive = True

    def __init__(self):
        self.channel = _Channel()
        self.write = Semaphore(1)


class _Request:
    def __init__(self, reply_to):
        self.properties = {"reply_to": reply_to, "correlation_id": "c-1",
                           "content_type": "application/json"}
        self.delivery_info = {"delivery_tag": 7}


def _server(link):
    server = RpcServer()
    server.exchange, server.queue, server.serializer = "nameko-rpc", "rpc-x", "json"
    server.link = link
    return server


def _sent(link):
    exchange, key, msg = link.channel.published[-1]
    return exchange, key, kombu.serialization.loads(msg.body, msg.content_type,
                                                    msg.content_encoding)


@pytest.mark.parametrize("reply_to, exchange", [
    (DIRECT_REPLY_TO + ".g1h2AA5yZXBseUAxAAAE", ""),  # direct reply-to: default exchange
    ("0b6c2c3e-reply-queue-key", "nameko-rpc"),        # a classic nameko caller
])
def test_a_result_is_answered_transient_to_the_reply_path_then_acked(reply_to, exchange):
    link = _Link()
    _server(link).reply(link, _Request(reply_to), {"id": 1}, None)
    sent_exchange, key, body = _sent(link)
    assert (sent_exchange, key, body) == (exchange, reply_to, {"result": {"id": 1}, "error": None})
    msg = link.channel.published[-1][2]
    assert msg.properties["delivery_mode"] == 1 and msg.properties["correlation_id"] == "c-1"
    assert link.channel.acked == [7]


def test_an_error_is_answered_so_the_caller_rebuilds_the_same_class():
    link = _Link()
    try:
        raise NotFound("no such appeal")
    except NotFound:
        _server(link).reply(link, _Request(DIRECT_REPLY_TO + ".x"), None, sys.exc_info())
    rebuilt = deserialize(_sent(link)[2]["error"])
    assert type(rebuilt) is NotFound and rebuilt.detail == "no such appeal"


def test_an_unserialisable_result_becomes_an_error_not_a_lost_reply():
    link = _Link()
    result, exc_info = _server(link).reply(link, _Request(DIRECT_REPLY_TO + ".x"), object(), None)
    body = _sent(link)[2]
    assert body["result"] is None and body["error"]["exc_type"] == "UnserializableValueError"
    assert result is None and issubclass(exc_info[0], EncodeError)  # the worker's outcome
    assert link.channel.acked == [7]
