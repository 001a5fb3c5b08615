"""The gateway as one nameko service, assembled from one routes module per
backing service (see ``gateway/routes/__init__.py`` to add one).

Run: ``python -m gateway`` (or ``nameko run --config config/gateway.yaml
gateway.service:GatewayService``); port 8000, or GATEWAY_PORT.
"""
from .routes.api_keys import ApiKeyRoutes
from .routes.appeals import AppealRoutes
from .routes.exports import ExportRoutes
from .routes.audit import AuditRoutes
from .routes.inspections import InspectionRoutes
from .routes.lists import ListRoutes
from .routes.notify import NotifyRoutes
from .routes.open311 import Open311Routes
from .routes.ops import OpsRoutes
from .routes.pages import PageRoutes
from .routes.rectification import RectificationRoutes
from .routes.registers import RegisterRoutes
from .routes.routing import RoutingRoutes
from .routes.scoring import ScoringRoutes


class GatewayService(AppealRoutes, ExportRoutes, InspectionRoutes, RegisterRoutes, Open311Routes, ApiKeyRoutes,
                     OpsRoutes, RoutingRoutes, ListRoutes, RectificationRoutes, ScoringRoutes,
                     NotifyRoutes, AuditRoutes, PageRoutes):
    name = "gateway"
