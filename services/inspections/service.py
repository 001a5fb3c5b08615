"""Nameko entrypoints of the inspections service, assembled from one module
per feature (``entrypoints/``): filing and the visit's actions, joint visits,
the registers and the directory import, draws, entry codes, the yearly plan.
Each is thin: validate with the schema, apply the domain, commit state and
events together (outbox), answer. The rules are in ``domain``, without I/O.
"""
import json

from nameko.web.handlers import http
from sqlalchemy import func, select

from kernel.outbox import OutboxRelay
from kernel.rpc import rpc

from . import domain
from .entrypoints.codes import EntryCodeEntrypoints
from .entrypoints.draws import DrawEntrypoints
from .entrypoints.filing import FilingEntrypoints
from .entrypoints.joint import JointEntrypoints
from .entrypoints.plan import PlanEntrypoints
from .entrypoints.registers import RegisterEntrypoints
from .models import Visit


class InspectionsService(FilingEntrypoints, JointEntrypoints, RegisterEntrypoints,
                         DrawEntrypoints, EntryCodeEntrypoints, PlanEntrypoints):
    name = "inspections"

    # -- operations -------------------------------------------------------------------------------
    @http("GET", "/metrics")
    def metrics_endpoint(self, request):
        by_status = self.metrics.gauge("qinqing_inspections_visits",
                                       "Visits planned this month, by status and kind",
                                       ["status", "kind"])
        flagged = self.metrics.gauge("qinqing_inspections_flagged",
                                     "Emergency visits flagged for a late or missing record",
                                     ["department", "reason"])
        pending = self.metrics.gauge("qinqing_outbox_pending", "Events not yet published")
        by_status.clear()
        flagged.clear()
        month = domain.month_of(self.rules.today())
        with self.db.reading() as s:
            for status, kind, n in s.execute(select(Visit.status, Visit.kind, func.count()).where(
                    Visit.month == month).group_by(Visit.status, Visit.kind)):
                by_status.labels(status, kind).set(n)
            for dept, reason, n in s.execute(select(Visit.department, Visit.flag_reason, func.count())
                                             .where(Visit.flagged_at.is_not(None))
                                             .group_by(Visit.department, Visit.flag_reason)):
                flagged.labels(dept, reason).set(n)
        relay = next(d for d in self.rules.container.dependencies if isinstance(d, OutboxRelay))
        pending.set(relay.pending_count())
        return self.metrics.expose()

    @http("GET", "/healthz")
    def healthz(self, request):
        return 200, json.dumps({"status": "ok", "service": self.name})

    @rpc
    def ping(self):
        with self.db.reading() as s:
            s.execute(select(1))
        return {"service": self.name, "status": "ok"}
