"""Configuration: nameko's config dict first, then the environment, then defaults.

Every service reads its settings through ``setting(config, KEY)``. The shipped
YAML files write every key as ``${NAME:default}``, so the environment beats the
file (nameko substitutes it when loading); a key absent from the file is read
from the environment here. Precedence overall: environment, YAML, code default.
"""
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {
    "AMQP_URI": "amqp://guest:guest@127.0.0.1:5672//",
    # The outbox relay may use its own broker URI (defaults to AMQP_URI).
    "OUTBOX_AMQP_URI": None,
    "OUTBOX_POLL_SECONDS": 0.5,
    "OUTBOX_BATCH": 200,
    "RPC_TIMEOUT_SECONDS": 10.0,
    "COUNTY_PROFILE": str(ROOT / "config" / "county" / "demo.json"),
    "HOLIDAY_DIR": str(ROOT / "config" / "holidays"),
}


def setting(config, key, default=None):
    if config is not None and config.get(key) not in (None, ""):
        return config[key]
    if os.environ.get(key) not in (None, ""):
        return os.environ[key]
    return DEFAULTS.get(key, default)


def setting_json(config, key, default):
    """A structured setting: a dict/list in YAML, or JSON text in the environment."""
    value = setting(config, key)
    if value is None:
        return default
    if isinstance(value, str):
        return json.loads(value)
    return value


class CountyProfile:
    """The county's reference data: towns, departments, categories, routing seed.

    A county edits one JSON file (``config/county/*.json``) to run the platform.
    """

    def __init__(self, data):
        self.data = data
        self.name = data.get("name", "")
        self.towns = {t["code"]: t for t in data.get("towns", [])}
        self.departments = {d["code"]: d for d in data.get("departments", [])}
        self.categories = {c["code"]: c for c in data.get("categories", [])}
        self.routing = data.get("routing", [])
        self.enterprises = data.get("enterprises", [])
        self.taskforce = data.get("taskforce_department", "taskforce")

    @classmethod
    def load(cls, path):
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def from_config(cls, config):
        return cls.load(setting(config, "COUNTY_PROFILE"))


# -- production and its refusals ------------------------------------------------------
class InsecureSetting(RuntimeError):
    """A development fallback met a production deployment: refuse to start."""


def is_production(config) -> bool:
    """``QQ_ENV=production`` (set by the k8s manifests): no development fallback
    is used, a missing secret stops the process at start."""
    return str(setting(config, "QQ_ENV", "") or "").strip().lower() in ("production", "prod")


def secret_setting(config, key, dev_default):
    """A secret: the configured value; in development the documented default,
    in production a refusal to start when it is unset or is that default."""
    value = setting(config, key)
    if is_production(config):
        if not value or value == dev_default:
            raise InsecureSetting(f"{key} must be set to a secret of this deployment "
                                  f"(QQ_ENV=production refuses the development default)")
        return value
    return value or dev_default
