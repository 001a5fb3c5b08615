"""The inspections service's configuration as one dependency: the county's
reference data, the rules' policy, the calendar, the entry-code key; and the
first start's seeding of the registers."""
import json
import logging
from pathlib import Path


from kernel.calendar import utcnow
from kernel.config import (ROOT, InsecureSetting, is_production, secret_setting,
                           setting, setting_json)
from kernel.outbox import OutboxRelay
from kernel.rules import CountyRules

from . import directory, domain, registers, schemas
from .models import Enterprise, InspectionItem, Inspector

_log = logging.getLogger(__name__)
CONFIG_DIR = ROOT / "config" / "inspections"
DEV_CODE_KEY = "qinqing-development-entry-code-key"  # never for production: set INS_CODE_KEY
DEV_TASKFORCE_HEAD = "tf-head"  # config/inspections/inspections.yaml's example head
_OFF = ("none", "off", "-")


class Rules(CountyRules):
    """The county's reference data, the rules' configuration, the calendar and
    the entry-code key."""

    def bind(self, container, attr_name):
        _production_checked(container.config)  # refused before anything starts
        return super().bind(container, attr_name)

    def configure(self, config):
        d = domain.Policy()
        quiet = setting_json(config, "INS_QUIET_DAYS", list(d.quiet_days))
        self.policy = domain.Policy(
            quiet_days=(int(quiet[0]), int(quiet[1])),
            exempt_categories=setting_json(config, "INS_EXEMPT_CATEGORIES", d.exempt_categories),
            monthly_cap=int(setting(config, "INS_MONTHLY_CAP", d.monthly_cap)),
            after_filing_days=int(setting(config, "INS_AFTER_FILING_DAYS", d.after_filing_days)),
            draw_inspectors=int(setting(config, "INS_DRAW_INSPECTORS", d.draw_inspectors)),
            no_penalty=tuple(_no_penalty_list(config)),
            monthly_exceptions=int(setting(config, "INS_MONTHLY_EXCEPTIONS", d.monthly_exceptions)),
        )
        self.heads = frozenset(setting_json(config, "INS_TASKFORCE_HEADS", []))
        self.directory_departments = frozenset(
            setting_json(config, "INS_DIRECTORY_DEPARTMENTS", ["market"]))
        key = _production_checked(config)
        if key == DEV_CODE_KEY:
            _log.warning("INS_CODE_KEY is not set: entry codes are signed with the development "
                         "key; set INS_CODE_KEY for any real use")
        self.code_key = key.encode("utf-8")
        base = setting(config, "INS_PUBLIC_BASE_URL")
        if not base:
            address = str(config.get("WEB_SERVER_ADDRESS") or "0.0.0.0:8000")
            base = "http://" + address.replace("0.0.0.0", "127.0.0.1")
        self.public_base = base.rstrip("/")

    def seed(self, s):
        """First start on empty registers: load the configured demo/seed files."""
        config = self.container.config
        relay = next(d for d in self.container.dependencies if isinstance(d, OutboxRelay))
        reg_path = setting(config, "INS_SEED_REGISTERS", str(CONFIG_DIR / "registers.json"))
        dir_path = setting(config, "INS_SEED_DIRECTORY", str(CONFIG_DIR / "directory.csv"))
        self._seed(s, relay, reg_path, dir_path, utcnow())

    def _seed(self, s, relay, reg_path, dir_path, now):
        if str(reg_path).lower() not in _OFF and registers.is_empty(s, InspectionItem) \
                and registers.is_empty(s, Inspector):
            seed = schemas.load(schemas.RegistersIn,
                                json.loads(_path(reg_path).read_text(encoding="utf-8")))
            for item in seed["items"]:
                registers.upsert_item(s, item, now)
            for person in seed["inspectors"]:
                registers.upsert_inspector(s, person, now)
            _log.info("registers seeded from %s: %d items, %d inspectors", reg_path,
                      len(seed["items"]), len(seed["inspectors"]))
        if str(dir_path).lower() not in _OFF and registers.is_empty(s, Enterprise):
            parsed = directory.parse(_path(dir_path).read_text(encoding="utf-8"),
                                     self.profile.towns)
            counts = registers.upsert_enterprises(
                s, parsed.rows, now, lambda sess, t, data: relay.stage(sess, t, data))
            for e in parsed.errors:
                _log.warning("directory seed %s line %s column %s: %s", dir_path, e["line"],
                             e["column"], e["message"])
            _log.info("directory seeded from %s: %s", dir_path, counts)

    def today(self):
        return self.calendar.local_date(utcnow())

    def department_names(self):
        return {c: d["name"] for c, d in self.profile.departments.items()}


def _path(value):
    """A configured file: absolute, or relative to the project's root."""
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


def _no_penalty_list(config):
    raw = setting_json(config, "INS_NO_PENALTY_LIST", None)
    if raw is None:
        path = setting(config, "INS_NO_PENALTY_FILE", str(CONFIG_DIR / "no_penalty.json"))
        raw = json.loads(_path(path).read_text(encoding="utf-8")) if _path(path).exists() else []
    out = []
    for entry in raw:
        e = schemas.load(schemas.NoPenaltyIn, entry)
        out.append(domain.NoPenaltyEntry(**e))
    return out


def _production_checked(config):
    """The entry-code key; in production neither it nor the heads may be the
    development defaults (kernel.config.InsecureSetting)."""
    if is_production(config) and DEV_TASKFORCE_HEAD in setting_json(config, "INS_TASKFORCE_HEADS", []):
        raise InsecureSetting(f"INS_TASKFORCE_HEADS holds the development head "
                              f"{DEV_TASKFORCE_HEAD!r}: name the real heads in production")
    return secret_setting(config, "INS_CODE_KEY", DEV_CODE_KEY)
