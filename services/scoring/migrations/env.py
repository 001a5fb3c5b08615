"""Alembic environment of the scoring service (see kernel.db.run_migrations_env)."""
from kernel.db import run_migrations_env
from services.scoring.models import Base

run_migrations_env(Base.metadata)
