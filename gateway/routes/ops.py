"""Operations and documentation: /healthz, /readyz, /metrics, /openapi.json, /docs.

Probes and metrics are not rate limited (a kubelet or Prometheus polls them
from one address); the documentation is, like any public route.
"""
import logging

from kombu import Connection
from nameko.exceptions import RpcTimeout, UnknownService
from sqlalchemy import text
from werkzeug.wrappers import Response

from kernel.config import setting

from .. import docs, openapi
from ..http import json_response, route
from ..schemas import Health, Readiness
from .base import RoutesBase

_log = logging.getLogger(__name__)


class OpsRoutes(RoutesBase):

    @route("GET", "/healthz", tags=("operations",), response=Health,
           summary="Alive: the process answers (no dependency is asked)")
    def healthz(self, request):
        return json_response({"status": "ok", "service": "gateway"})

    @route("GET", "/readyz", tags=("operations",), response=Readiness,
           summary="Ready: the broker, the gateway's database and every backing service answer",
           description="Each service is asked `ping()` with a short timeout "
                       "(GATEWAY_READY_TIMEOUT_SECONDS, default 2). 503, with the same report, "
                       "when anything fails.")
    def readyz(self, request):
        report = {"broker": self._broker(), "database": self._database(), "services": {}}
        for attribute, service in self.probes():
            report["services"][service] = self._ping(attribute) if report["broker"] == "ok" \
                else "skipped"
        ready = report["broker"] == report["database"] == "ok" and \
            all(v == "ok" for v in report["services"].values())
        report["status"] = "ready" if ready else "not ready"
        return json_response(report, 200 if ready else 503)

    @route("GET", "/metrics", tags=("operations",), content={"text/plain": "Prometheus text format"},
           summary="Prometheus metrics: calls, errors and latency per route, answers per status")
    def metrics_endpoint(self, request):
        return self.metrics.expose()

    @route("GET", "/openapi.json", roles=None, tags=("documentation",),
           content={"application/json": "an OpenAPI 3.0 document"},
           summary="This API as an OpenAPI 3 document, generated from the contract's schemas")
    def openapi_document(self, request):
        self.gate.enter(request)
        return json_response(openapi.document(type(self)))

    @route("GET", "/docs", roles=None, tags=("documentation",), content={"text/html": "the page"},
           summary="This API as a page to read; works without internet access")
    def docs_page(self, request):
        self.gate.enter(request)
        return Response(docs.page(type(self)), content_type="text/html; charset=utf-8")

    # -- readiness checks ----------------------------------------------------------------
    def _broker(self):
        uri = setting(self.gate.config, "AMQP_URI")
        try:
            with Connection(uri, connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
            return "ok"
        except Exception as exc:  # any failure means "not ready"; say which kind in the log
            _log.warning("readiness: broker unreachable (%s)", type(exc).__name__)
            return "unreachable"

    def _database(self):
        try:
            with self.db.reading() as s:
                s.execute(text("SELECT 1"))
            return "ok"
        except Exception as exc:
            _log.warning("readiness: database unreachable (%s)", type(exc).__name__)
            return "unreachable"

    def _ping(self, attribute):
        try:
            getattr(self, attribute).ping()
            return "ok"
        except RpcTimeout:
            return "timeout"
        except UnknownService:
            return "unavailable"
        except Exception as exc:
            _log.warning("readiness: %s failed (%s)", attribute, type(exc).__name__)
            return "error"
