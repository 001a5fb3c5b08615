"""Alembic environment of the notify service (see kernel.db.run_migrations_env)."""
from kernel.db import run_migrations_env
from services.notify.models import Base

run_migrations_env(Base.metadata)
