"""One service per container: ``python -m kernel.launch run|migrate <service>``.

The image holds every service; the command picks one (``scripts/service-entrypoint.sh``).
``run`` starts it as ``nameko run`` would, with its own YAML; ``migrate`` brings its
database to head and exits (the Kubernetes init container, on a direct
connection, before the new version takes traffic).

In a container the Deployment's environment is the operator's word, so a few
deployment keys set there win over the YAML (whose ``${VAR:default}`` names
differ per service): ``ENV_WINS``.

Credentials come as files, never as environment variables: ``QQ_SECRET_DIR``
names the mounted Secret. Its ``username`` and ``password`` fill the
``{username}`` and ``{password}`` of the URIs above (URL-quoted); a file named
like a setting (``INS_CODE_KEY``) sets that setting.
"""
import eventlet

eventlet.monkey_patch()  # first, before anything imports socket or threading

import logging.config  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

import yaml  # noqa: E402

from kernel.config import ROOT, setting  # noqa: E402

ENV_WINS = ("AMQP_URI", "DB_URL", "WEB_SERVER_ADDRESS", "DB_POOL_SIZE", "DB_MAX_OVERFLOW",
            "DB_MIGRATE_ON_START", "max_workers")


def service_names():
    """The gateway and every folder of ``services/`` that has a ``service.py``."""
    found = sorted(p.parent.name for p in (ROOT / "services").glob("*/service.py"))
    return ["gateway", *found]


def target(name):
    if name == "gateway":
        return "gateway.service:GatewayService"
    return f"services.{name}.service:{name.capitalize()}Service"


def config_path(name):
    flat = ROOT / "config" / f"{name}.yaml"
    return flat if flat.exists() else ROOT / "config" / name / f"{name}.yaml"


def migrations_dir(name):
    base = ROOT / "gateway" if name == "gateway" else ROOT / "services" / name
    return base / "migrations"


def load_config(name):
    from nameko.cli.main import setup_yaml_parser  # ${VAR:default} as nameko reads it
    setup_yaml_parser()
    with open(config_path(name), encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    for key in ENV_WINS:
        if os.environ.get(key) not in (None, ""):
            config[key] = os.environ[key]
    if os.environ.get("QQ_SECRET_DIR"):
        apply_secrets(config, Path(os.environ["QQ_SECRET_DIR"]))
    if "max_workers" in config:
        config["max_workers"] = int(config["max_workers"])
    return config


def apply_secrets(config, folder):
    # Kubernetes mounts each key as a file (plus its own dot-named bookkeeping).
    files = {p.name: p.read_text(encoding="utf-8").strip()
             for p in folder.iterdir() if not p.name.startswith(".") and p.is_file()}
    for key in ("AMQP_URI", "DB_URL"):
        if isinstance(config.get(key), str):
            for field in ("username", "password"):
                if field in files:
                    config[key] = config[key].replace("{%s}" % field, quote(files[field], safe=""))
    for name, value in files.items():
        if name.isupper():
            config[name] = value


def _configure_logging(config):
    if "LOGGING" in config:
        logging.config.dictConfig(config["LOGGING"])
    else:
        logging.basicConfig(level=logging.INFO)


def run(name):
    from nameko.cli.run import import_service, run as nameko_run
    config = load_config(name)
    _configure_logging(config)
    nameko_run(import_service(target(name)), config)


def migrate_database(name):
    from kernel.db import make_engine, migrate, pool_settings
    config = load_config(name)
    _configure_logging(config)
    url = setting(config, "DB_URL")
    if not url:
        raise SystemExit(f"{name}: DB_URL is not set; nothing to migrate")
    engine = make_engine(url, **pool_settings({"DB_POOL_SIZE": 1, "DB_MAX_OVERFLOW": 0}, url))
    try:
        migrate(engine, migrations_dir(name))
    finally:
        engine.dispose()
    logging.getLogger(__name__).info("%s: database at head", name)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    names = service_names()
    if len(argv) != 2 or argv[0] not in ("run", "migrate") or argv[1] not in names:
        print(f"usage: python -m kernel.launch run|migrate {'|'.join(names)}", file=sys.stderr)
        return 2
    if argv[0] == "run":
        run(argv[1])
    else:
        migrate_database(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
