"""Nameko entrypoints of the inspections service, assembled from one module
per feature (``entrypoints/``): filing and the visit's actions, joint visits,
the registers and the directory import, draws, entry codes, the yearly plan.
Each is thin: validate with the schema, apply the domain, commit state and
events together (outbox), answer. The rules are in ``domain``, without I/O.
"""
from sqlalchemy import func, select

from kernel.timers import configurable_timer

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
    @configurable_timer("GAUGE_INTERVAL_SECONDS", 15, eager=True)
    def refresh_gauges(self):
        """Business gauges on a schedule, not per scrape (the admin port serves them)."""
        by_status = self.metrics.gauge("qinqing_inspections_visits",
                                       "Visits planned this month, by status and kind",
                                       ["status", "kind"])
        flagged = self.metrics.gauge("qinqing_inspections_flagged",
                                     "Emergency visits flagged for a late or missing record",
                                     ["department", "reason"])
        month = domain.month_of(self.rules.today())
        with self.db.reading() as s:
            visits = s.execute(select(Visit.status, Visit.kind, func.count()).where(
                Visit.month == month).group_by(Visit.status, Visit.kind)).all()
            flags = s.execute(select(Visit.department, Visit.flag_reason, func.count())
                              .where(Visit.flagged_at.is_not(None))
                              .group_by(Visit.department, Visit.flag_reason)).all()
        by_status.clear()
        flagged.clear()
        for status, kind, n in visits:
            by_status.labels(status, kind).set(n)
        for dept, reason, n in flags:
            flagged.labels(dept, reason).set(n)
