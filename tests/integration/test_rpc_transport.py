"""The kernel's lean RPC transport (kernel/leanrpc.py, issue 16) against the real
broker: a lost reply ends in the caller's RpcTimeout (never a hang), an
abandoned request expires unexecuted, green threads sharing one client each
get their own answer, errors cross as before, and a forged caller is refused."""
import shutil
import subprocess
import time
from urllib.parse import unquote

import eventlet
import pytest
from nameko.exceptions import (IncorrectSignature, MethodNotFound, RemoteError, RpcTimeout,
                               UnknownService)

from kernel.errors import BadInput, NotFound, Unauthorized
from kernel.leanrpc import Rpc, RpcServer, StandaloneRpc
from kernel.rpc import Caller, CallerIdentity, TimedRpcProxy, caller_signing_key, rpc

pytestmark = [pytest.mark.integration, pytest.mark.db_independent]

TASKFORCE = Caller(role="taskforce", sub="tf-1", org="taskforce")
CALLS = {"lossy": 0, "record": 0}


class BackService:
    name = "transport_back"
    caller = CallerIdentity()

    @rpc
    def echo(self, value, delay=0):
        eventlet.sleep(delay)
        return {"value": value}

    @rpc
    def whoami(self):
        caller = self.caller.require()
        return {"role": caller.role, "sub": caller.sub}

    @rpc
    def fail(self, kind):
        if kind == "not_found":
            raise NotFound("no such appeal")
        if kind == "bad_input":
            raise BadInput({"title": ["must not be empty"]})
        return {}["secret-key"]  # a bug: KeyError

    @rpc
    def slow(self, seconds):
        eventlet.sleep(seconds)
        return "done"

    @rpc
    def record(self):
        CALLS["record"] += 1
        return CALLS["record"]


class FrontService:
    """Calls BackService from inside a container, as the gateway does."""
    name = "transport_front"
    back = TimedRpcProxy("transport_back")

    @rpc
    def relay(self, n):
        pool = eventlet.GreenPool(n)
        return list(pool.imap(lambda i: self.back.echo(i, delay=0.01)["value"], range(n)))

    @rpc
    def relay_identity(self):
        return self.back.whoami()


class ReplyDroppingServer(RpcServer):
    """The service works and acks, but its reply never reaches the caller:
    what a reply lost between the service and the broker looks like."""

    def publish_reply(self, link, reply_to, correlation_id, msg):
        CALLS["lossy"] += 1


class LossyRpc(Rpc):
    server = ReplyDroppingServer()


class LossyService:
    name = "transport_lossy"

    @LossyRpc.decorator
    def answer(self):
        return 42


@pytest.fixture
def back(start_service):
    return start_service(BackService)


def test_a_lost_reply_ends_in_the_callers_timeout_not_a_hang(start_service, rpc):
    start_service(LossyService)
    before = CALLS["lossy"]
    with rpc(TASKFORCE, timeout=1.5) as proxy:
        started = time.monotonic()
        with pytest.raises(RpcTimeout, match="transport_lossy.answer gave no reply in 1.5s"):
            with eventlet.Timeout(10, AssertionError("the caller hung")):
                proxy.transport_lossy.answer()
        waited = time.monotonic() - started
    assert CALLS["lossy"] == before + 1  # the service did answer: the reply was lost
    assert 1.4 <= waited < 3


def test_an_abandoned_request_expires_unexecuted(start_service, rpc):
    # one worker: the second request waits in the queue behind the slow one
    start_service(BackService, max_workers=1)
    before = CALLS["record"]
    with rpc(TASKFORCE) as proxy, rpc(TASKFORCE, timeout=0.5) as impatient:
        slow = eventlet.spawn(proxy.transport_back.slow, 2)
        eventlet.sleep(0.2)
        with pytest.raises(RpcTimeout):
            impatient.transport_back.record()
        assert slow.wait() == "done"
        assert proxy.transport_back.echo(1) == {"value": 1}  # the queue moved on
    assert CALLS["record"] == before  # the expired request was never acted on


def test_many_green_threads_share_one_client_and_each_gets_its_own_answer(back, rpc):
    with rpc(TASKFORCE) as proxy:
        pool = eventlet.GreenPool(50)
        # replies come back out of order (random delays): each still finds its caller
        answers = list(pool.imap(
            lambda i: proxy.transport_back.echo(i, delay=(i * 7 % 10) / 1000)["value"],
            range(300)))
    assert answers == list(range(300))


def test_a_container_proxy_shared_by_green_threads_carries_the_workers_context(
        back, start_service, rpc):
    start_service(FrontService)
    with rpc(TASKFORCE) as proxy:
        assert proxy.transport_front.relay(40) == list(range(40))
        # the caller identity crossed two hops, signed
        assert proxy.transport_front.relay_identity() == {"role": "taskforce", "sub": "tf-1"}


def test_errors_cross_as_before(back, rpc):
    with rpc(TASKFORCE) as proxy:
        with pytest.raises(NotFound, match="no such appeal"):
            proxy.transport_back.fail("not_found")
        with pytest.raises(BadInput) as refused:
            proxy.transport_back.fail("bad_input")
        assert refused.value.errors == {"title": ["must not be empty"]}
        with pytest.raises(RemoteError) as bug:
            proxy.transport_back.fail("bug")
        assert bug.value.exc_type == "KeyError"
        with pytest.raises(MethodNotFound):
            proxy.transport_back.no_such_method()
        with pytest.raises(IncorrectSignature):
            proxy.transport_back.echo()
        started = time.monotonic()
        with pytest.raises(UnknownService):
            proxy.transport_nobody.ping()
        assert time.monotonic() - started < 2  # refused at once, not after the timeout
        assert proxy.transport_back.echo("still fine") == {"value": "still fine"}


def test_an_unsigned_or_forged_caller_is_refused(back, base_config, rpc):
    with rpc(TASKFORCE) as proxy:
        assert proxy.transport_back.whoami() == {"role": "taskforce", "sub": "tf-1"}
    with rpc(None) as proxy:
        with pytest.raises(Unauthorized):
            proxy.transport_back.whoami()
    forged = {"unsigned": '{"role": "taskforce", "sub": "tf-1"}',
              "foreign key": TASKFORCE.to_header(b"not-the-cluster-key"),
              "expired": TASKFORCE.to_header(caller_signing_key(base_config), ttl=-1)}
    for name, header in forged.items():
        with StandaloneRpc(base_config, {"caller": header}, timeout=10) as proxy:
            with pytest.raises(Unauthorized):
                proxy.transport_back.whoami()
                pytest.fail(f"accepted: {name}")


def _close_connections(amqp_uri):
    """The broker drops every connection of this test run's vhost (as when a
    node restarts), leaving other vhosts alone."""
    vhost = unquote(amqp_uri.rsplit("/", 1)[1])
    out = subprocess.run(["rabbitmqctl", "-q", "--no-table-headers", "list_connections",
                          "pid", "vhost"], capture_output=True, text=True, timeout=60).stdout
    pids = [line.split("\t")[0] for line in out.splitlines()
            if line.endswith("\t" + vhost)]
    for pid in pids:
        subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test: broker drop"],
                       capture_output=True, timeout=60)
    return len(pids)


def test_consumer_and_clients_reconnect_after_the_broker_dropped_them(
        back, start_service, rpc, amqp_uri):
    if not shutil.which("rabbitmqctl") or amqp_uri.endswith("//"):
        pytest.skip("needs rabbitmqctl and a vhost of this run's own")
    start_service(FrontService)
    with rpc(TASKFORCE, timeout=3) as proxy:
        assert proxy.transport_front.relay(3) == [0, 1, 2]
        waiting = eventlet.spawn(proxy.transport_back.slow, 2)
        eventlet.sleep(0.3)
        assert _close_connections(amqp_uri) >= 3  # the service's, the front's client, ours
        # the call in flight lost its way back: the caller's timeout, not a hang
        with pytest.raises(RpcTimeout):
            with eventlet.Timeout(10, AssertionError("the caller hung")):
                waiting.wait()
        # the same client, the service's consumer and the front's client come back
        end, answer = time.monotonic() + 30, None
        while answer is None and time.monotonic() < end:
            try:
                answer = proxy.transport_front.relay(5)
            except (RpcTimeout, ConnectionError, UnknownService):
                eventlet.sleep(0.5)
        assert answer == [0, 1, 2, 3, 4]
        assert proxy.transport_back.whoami() == {"role": "taskforce", "sub": "tf-1"}
