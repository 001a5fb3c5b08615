"""Alembic environment of the appeals service (see kernel.db.run_migrations_env)."""
from kernel.db import run_migrations_env
from services.appeals.models import Base

run_migrations_env(Base.metadata)
