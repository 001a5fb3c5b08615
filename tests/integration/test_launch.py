"""The container's launcher: migrate before traffic, then start without migrating
(issue 17: migrations run once, on a direct connection, before a version serves)."""
import subprocess
import sys

import pytest
import sqlalchemy as sa

from kernel import launch
from kernel.config import ROOT
from kernel.db import make_engine
from services.appeals.service import AppealsService

pytestmark = pytest.mark.integration


def test_every_service_has_a_target_config_and_migrations():
    # rule: ops (issue 17) — the image runs any service by name
    assert "gateway" in launch.service_names() and "appeals" in launch.service_names()
    for name in launch.service_names():
        assert launch.config_path(name).exists(), name
        assert (launch.migrations_dir(name) / "env.py").exists(), name
        module, cls = launch.target(name).split(":")
        assert getattr(__import__(module, fromlist=[cls]), cls).name == name


def test_deployment_environment_wins_over_the_yaml(monkeypatch):
    # rule: ops (issue 17)
    monkeypatch.setenv("DB_URL", "postgresql://appeals@pooler/appeals")
    monkeypatch.setenv("WEB_SERVER_ADDRESS", "0.0.0.0:8001")
    monkeypatch.setenv("DB_POOL_SIZE", "4")
    monkeypatch.setenv("max_workers", "12")
    monkeypatch.delenv("APPEALS_DB_URL", raising=False)
    config = launch.load_config("appeals")
    assert config["DB_URL"] == "postgresql://appeals@pooler/appeals"
    assert config["WEB_SERVER_ADDRESS"] == "0.0.0.0:8001"
    assert config["DB_POOL_SIZE"] == "4" and config["max_workers"] == 12
    monkeypatch.delenv("DB_URL")
    assert launch.load_config("appeals")["DB_URL"].startswith("sqlite")  # the YAML's default


def test_credentials_come_from_the_mounted_secret_not_the_environment(monkeypatch, tmp_path):
    # rule: ops (issue 17) — one Secret per service, mounted as files
    (tmp_path / "username").write_text("inspections")
    (tmp_path / "password").write_text("p@ss/word:1\n")
    (tmp_path / "INS_CODE_KEY").write_text("k" * 64)
    (tmp_path / "..data").mkdir()  # Kubernetes' own bookkeeping beside the keys
    monkeypatch.setenv("QQ_SECRET_DIR", str(tmp_path))
    monkeypatch.setenv("DB_URL", "postgresql://{username}:{password}@pooler:5432/inspections")
    monkeypatch.setenv("AMQP_URI", "amqp://{username}:{password}@rabbitmq:5672/qinqing")
    config = launch.load_config("inspections")
    assert config["DB_URL"] == "postgresql://inspections:p%40ss%2Fword%3A1@pooler:5432/inspections"
    assert config["AMQP_URI"] == "amqp://inspections:p%40ss%2Fword%3A1@rabbitmq:5672/qinqing"
    assert config["INS_CODE_KEY"] == "k" * 64
    assert "username" not in config and "password" not in config


def test_migrate_command_brings_the_database_to_head_and_the_service_then_skips_it(
        db_factory, start_service, monkeypatch):
    # rule: ops (issue 17)
    url = db_factory("appeals")
    refused = subprocess.run([sys.executable, "-m", "kernel.launch", "migrate", "nosuch"],
                             cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 2 and "usage" in refused.stderr
    done = subprocess.run([sys.executable, "-m", "kernel.launch", "migrate", "appeals"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**_env(), "DB_URL": url, "APPEALS_DB_URL": ""})
    assert done.returncode == 0, done.stderr
    engine = make_engine(url)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        # forget the version: a start that migrated would recreate every table and fail
        c.execute(sa.text("DROP TABLE alembic_version"))
        c.commit()
    start_service(AppealsService, DB_URL=url, DB_MIGRATE_ON_START="false")
    assert "alembic_version" not in sa.inspect(engine).get_table_names()
    engine.dispose()


def _env():
    import os
    return {k: v for k, v in os.environ.items() if k not in ("DB_URL",)}
