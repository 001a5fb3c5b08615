"""The dependency a service's rules read, the same in every service: the
county (its reference data) and the working-day calendar, read once when the
service starts, and the reference data the service keeps in its own database,
written at start."""
import logging

from nameko.extensions import DependencyProvider
from sqlalchemy.exc import IntegrityError

from .calendar import WorkingCalendar
from .config import CountyProfile, setting
from .db import Database

_log = logging.getLogger(__name__)


class CountyRules(DependencyProvider):
    """``self.profile`` and ``self.calendar``; a service's subclass reads its own
    settings (its policy) in ``configure`` and writes its reference data in
    ``seed``. Entrypoints get the provider itself: read-only after start."""

    def setup(self):
        config = self.container.config
        self.profile = CountyProfile.from_config(config)
        self.calendar = WorkingCalendar.from_dir(setting(config, "HOLIDAY_DIR"))
        self.configure(config)

    def configure(self, config):
        """The service's own settings."""

    def start(self):
        db = next(d for d in self.container.dependencies if isinstance(d, Database))
        try:
            with db.store.transaction() as s:
                self.seed(s)
        except IntegrityError:  # another instance starting at the same moment wrote it
            _log.info("%s: the reference data was written by another instance",
                      self.container.service_name)

    def seed(self, session):
        """Reference data kept in the service's database, in one transaction."""

    def get_dependency(self, worker_ctx):
        return self
