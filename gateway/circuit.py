"""One service down must not take the gateway down with it.

``GuardedRpcProxy`` is the gateway's RPC proxy to one backing service, with a
circuit in front of it:

- **Is anyone there?** A stopped service leaves its durable ``rpc-<service>``
  queue behind with no consumer; a call would wait for the whole RPC timeout.
  The circuit asks the broker how many consumers the queue has (a passive
  declare, at most once per ``GATEWAY_CIRCUIT_CHECK_SECONDS``, 1 s, shared by
  every request) and refuses at once when there are none.
- **Did it just fail?** A call that timed out opens the circuit for
  ``GATEWAY_CIRCUIT_OPEN_SECONDS`` (5 s): the requests after it are refused
  at once instead of each waiting, then one goes through to try again.

A refusal is ``ServiceUnavailable``: 503, ``Retry-After`` and problem+json,
answered in well under two seconds; routes of the other services are
untouched. When the broker itself cannot be asked, calls go through as before.
"""
import logging
import math
import time

import eventlet
from eventlet.semaphore import Semaphore
from kombu import Connection
from nameko.exceptions import RpcTimeout

from kernel.config import setting
from kernel.rpc import TimedRpcProxy

from .problems import ServiceUnavailable

_log = logging.getLogger(__name__)


class Circuit:
    def __init__(self, service, amqp_uri, check_every=1.0, open_for=5.0):
        self.service = service
        self.queue = f"rpc-{service}"
        self.amqp_uri = amqp_uri
        self.check_every = check_every
        self.open_for = open_for
        self.consumers = None  # None: not known (the broker could not be asked)
        self.checked_at = -math.inf
        self.open_until = 0.0
        self._lock = Semaphore(1)
        self._conn = self._channel = None

    def state(self):
        """``ok``, ``open`` (refusing after a failure), ``down`` (nobody
        consumes its queue) or ``unknown``."""
        if time.monotonic() < self.open_until:
            return "open"
        self._refresh()
        if self.consumers is None:
            return "unknown"
        return "ok" if self.consumers > 0 else "down"

    def check(self):
        """Raise ServiceUnavailable when the service is known to be away."""
        state = self.state()
        if state in ("open", "down"):
            retry = max(1, math.ceil(self.open_until - time.monotonic())) if state == "open" \
                else max(1, math.ceil(self.open_for))
            raise ServiceUnavailable("a service this route needs is not available; "
                                     "try again later", retry)

    def trip(self):
        self.open_until = time.monotonic() + self.open_for
        _log.warning("circuit to %s open for %.0fs after a timeout", self.service, self.open_for)

    def _refresh(self):
        if time.monotonic() - self.checked_at < self.check_every:
            return
        if not self._lock.acquire(blocking=False):
            return  # another request is asking right now: use the last answer
        try:
            with eventlet.Timeout(1.0):
                if self._channel is None:
                    self._conn = Connection(self.amqp_uri, connect_timeout=1, heartbeat=0)
                    self._channel = self._conn.channel()
                _, _, consumers = self._channel.queue_declare(self.queue, passive=True)
            self.consumers = consumers
        except (Exception, eventlet.Timeout) as exc:
            # 404 (no such queue: never started) means nobody consumes it; any
            # other failure means we could not tell
            self.consumers = 0 if getattr(exc, "code", None) == 404 else None
            self.close()
        finally:
            self.checked_at = time.monotonic()
            self._lock.release()

    def close(self):
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # already broken
                pass


class _GuardedMethod:
    def __init__(self, method, circuit):
        self._method = method
        self._circuit = circuit

    def __call__(self, *args, **kwargs):
        self._circuit.check()
        try:
            return self._method(*args, **kwargs)
        except RpcTimeout:
            self._circuit.trip()
            raise

    def call_async(self, *args, **kwargs):
        self._circuit.check()
        return self._method.call_async(*args, **kwargs)


class _GuardedServiceProxy:
    def __init__(self, proxy, circuit):
        self._proxy = proxy
        self.circuit = circuit

    def __getattr__(self, name):
        return _GuardedMethod(getattr(self._proxy, name), self.circuit)


class GuardedRpcProxy(TimedRpcProxy):
    """``appeals = GuardedRpcProxy("appeals")``: a TimedRpcProxy with a circuit."""

    def setup(self):
        super().setup()
        config = self.container.config
        self.circuit = Circuit(
            self.target_service, setting(config, "AMQP_URI"),
            check_every=float(setting(config, "GATEWAY_CIRCUIT_CHECK_SECONDS", 1.0)),
            open_for=float(setting(config, "GATEWAY_CIRCUIT_OPEN_SECONDS", 5.0)))

    def stop(self):
        self.circuit.close()
        super().stop()

    def kill(self):
        self.circuit.close()
        super().kill()

    def get_dependency(self, worker_ctx):
        return _GuardedServiceProxy(super().get_dependency(worker_ctx), self.circuit)
