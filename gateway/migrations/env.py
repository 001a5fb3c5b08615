"""Alembic environment of the gateway (see kernel.db.run_migrations_env)."""
from kernel.db import run_migrations_env
from gateway.models import Base

run_migrations_env(Base.metadata)
