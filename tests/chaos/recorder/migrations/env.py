"""Alembic environment of the chaos tests' recorder service."""
from kernel.db import run_migrations_env
from tests.chaos.recorder.service import metadata

run_migrations_env(metadata)
