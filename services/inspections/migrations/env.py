"""Alembic environment of the inspections service (see kernel.db.run_migrations_env)."""
from kernel.db import run_migrations_env
from services.inspections.models import Base

run_migrations_env(Base.metadata)
