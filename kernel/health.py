"""Each process's own liveness, readiness and metrics, on an admin port.

``admin = AdminServer()`` on a service class (one line) starts a small WSGI
server on ``ADMIN_PORT`` (``ADMIN_HOST``, default 0.0.0.0; port 0 or unset: a
free port, logged) serving:

- ``/healthz``: alive — the process answers; nothing else is asked.
- ``/readyz``: this process can work — its database answers ``SELECT 1`` and
  its broker connection is up. Other services are never asked, so one service
  down does not take its callers out of rotation with it.
- ``/metrics``: the container's Prometheus registry (kernel.metrics).

The server runs in a managed green thread of its own, not in the worker
pool: a probe answers even when every worker is busy. Not for the public
network (the Ingress exposes only the gateway's public port).

It also refreshes ``qinqing_outbox_pending`` every ``GAUGE_INTERVAL_SECONDS``
(15) when the service has an outbox, so a scrape never queries the database.
"""
import json
import logging

import eventlet
import eventlet.wsgi
from nameko.extensions import DependencyProvider
from nameko.messaging import QueueConsumer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from kernel.config import setting
from kernel.db import Database
from kernel.metrics import Metrics

_log = logging.getLogger(__name__)


class _BrokerWatch:
    """Whether the container's consumer connection is up: nameko's
    QueueConsumer calls ``on_consume_ready`` after each (re)connection and
    ``on_connection_error`` while it cannot connect; we listen to both."""

    def __init__(self, consumer):
        self.conn = None
        ready = consumer.on_consume_ready

        def on_consume_ready(connection, *args, **kwargs):
            self.conn = connection  # the live one; kombu closes it when the broker goes
            return ready(connection, *args, **kwargs)

        consumer.on_consume_ready = on_consume_ready

    def connected(self):
        try:
            return self.conn is not None and bool(self.conn.connected)
        except Exception:  # a half-torn-down connection: not up
            return False


class AdminServer(DependencyProvider):

    def setup(self):
        config = self.container.config
        self.host = str(setting(config, "ADMIN_HOST", "0.0.0.0"))
        self.port = int(setting(config, "ADMIN_PORT", 0) or 0)
        self.timeout = float(setting(config, "READY_TIMEOUT_SECONDS", 2))
        self.gauge_interval = float(setting(config, "GAUGE_INTERVAL_SECONDS", 15))
        self.sock = None
        # Hooked at setup: every extension is set up before any starts, so
        # the consumer's first connection (made in its start) is seen.
        consumer = next((e for e in self.container.subextensions if isinstance(e, QueueConsumer)),
                        None)
        self.watch = _BrokerWatch(consumer) if consumer is not None else None

    def _find(self, kind):
        return next((d for d in self.container.dependencies if isinstance(d, kind)), None)

    def start(self):
        self.sock = eventlet.listen((self.host, self.port))
        self.port = self.sock.getsockname()[1]
        _log.info("%s admin server on %s:%s", self.container.service_name, self.host, self.port)
        self._threads = [
            self.container.spawn_managed_thread(self._serve, identifier="admin_server"),
            self.container.spawn_managed_thread(self._refresh, identifier="admin_gauges")]

    def _serve(self):
        eventlet.wsgi.server(self.sock, self.app, log_output=False, debug=False,
                             max_size=64, socket_timeout=10)

    def stop(self):
        self._close()

    def kill(self):
        self._close()

    def _close(self):
        for gt in getattr(self, "_threads", ()):
            gt.kill()  # the server and the gauges: nothing of them is in flight to finish
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    # -- checks ------------------------------------------------------------------
    def database(self):
        db = self._find(Database)
        if db is None:
            return None
        try:
            with eventlet.Timeout(self.timeout):
                with db.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            return "ok"
        except (Exception, eventlet.Timeout) as exc:
            _log.warning("readiness: database unreachable (%s)", type(exc).__name__)
            return "unreachable"

    def broker(self):
        # the event consumers' connection (nameko) and the RPC consumer's (kernel.leanrpc)
        from .leanrpc import RpcServer
        rpc = next((e for e in self.container.subextensions if isinstance(e, RpcServer)), None)
        states = ([self.watch.connected()] if self.watch is not None else []) + (
            [rpc.connected()] if rpc is not None else [])
        if not states:
            return None
        return "ok" if all(states) else "unreachable"

    def readiness(self):
        report = {"service": self.container.service_name}
        for name, check in (("database", self.database), ("broker", self.broker)):
            state = check()
            if state is not None:
                report[name] = state
        ready = all(v == "ok" for k, v in report.items() if k != "service")
        report["status"] = "ready" if ready else "not ready"
        return ready, report

    # -- the WSGI app ------------------------------------------------------------------
    def app(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(start_response, 405, {"error": "method not allowed"})
        if path == "/healthz":
            return _answer(start_response, 200,
                           {"status": "ok", "service": self.container.service_name})
        if path == "/readyz":
            ready, report = self.readiness()
            return _answer(start_response, 200 if ready else 503, report)
        if path == "/metrics":
            metrics = self._find(Metrics)
            body = generate_latest(metrics.registry) if metrics is not None else b""
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST),
                                      ("Content-Length", str(len(body)))])
            return [body]
        return _answer(start_response, 404, {"error": "no such route"})

    # -- gauges on a schedule ---------------------------------------------------------
    def _refresh(self):
        from kernel.outbox import OutboxRelay  # the outbox imports metrics users; keep it lazy
        relay, metrics = self._find(OutboxRelay), self._find(Metrics)
        if relay is None or metrics is None:
            return
        pending = metrics.gauge("qinqing_outbox_pending", "Events not yet published")
        while self.sock is not None:
            try:
                pending.set(relay.pending_count())
            except Exception as exc:  # the database is away: keep the last value
                _log.warning("outbox gauge: %s", type(exc).__name__)
            eventlet.sleep(self.gauge_interval)

    def get_dependency(self, worker_ctx):
        return self


def _answer(start_response, status, data):
    body = json.dumps(data).encode()
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
              503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                         ("Content-Length", str(len(body)))])
    return [body]
