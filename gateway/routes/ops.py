"""Operations and documentation: /healthz, /readyz, /openapi.json, /docs.

Probes are not rate limited (a kubelet polls them from one address); the
documentation is, like any public route. /metrics is not here: it is on the
admin port (kernel.health), which the Ingress does not expose.
"""
import inspect

from werkzeug.wrappers import Response

from .. import docs, openapi
from ..circuit import GuardedRpcProxy
from ..http import json_response, route
from ..schemas import Health, Readiness
from .base import RoutesBase


class OpsRoutes(RoutesBase):

    @route("GET", "/healthz", tags=("operations",), response=Health,
           summary="Alive: the process answers (no dependency is asked)")
    def healthz(self, request):
        return json_response({"status": "ok", "service": "gateway"})

    @route("GET", "/readyz", tags=("operations",), response=Readiness,
           summary="Ready: this gateway's broker connection and database answer",
           description="The backing services are not asked: one service down must not take "
                       "the gateway out of rotation (its routes answer 503 meanwhile). "
                       "`services` reports what the gateway knows of each (its circuit: "
                       "ok | down | open | unknown) without changing the status. The same "
                       "check, without the services, is on the admin port (ADMIN_PORT), which "
                       "also serves /metrics.")
    def readyz(self, request):
        ready, own = self.admin.readiness()
        report = {"status": own["status"], "broker": own.get("broker", "ok"),
                  "database": own.get("database", "ok"),
                  "services": {service: getattr(self, attribute).circuit.state()
                               for attribute, service in self.guarded()}}
        return json_response(report, 200 if ready else 503)

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

    @classmethod
    def guarded(cls):
        """``(attribute, service name)`` of each backing service's guarded proxy."""
        return sorted((name, proxy.target_service) for name, proxy in inspect.getmembers(cls)
                      if isinstance(proxy, GuardedRpcProxy))
