"""Every service's models describe exactly the schema its migrations build
(names, types, nullability, indexes, keys): a kernel mixin (``kernel.models``)
or a model edit that changes a table without a migration fails here, on the
database the suite runs against (QQ_TEST_DB=sqlite or postgres)."""
import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kernel.db import make_engine, migrate

pytestmark = pytest.mark.integration

# Tables a service's migrations create whose models live outside its Base:
# the audit log (kernel.audit) and the appeals' export jobs (services.appeals.exports).
ELSEWHERE = {"audit_log", "export_jobs"}


def _theirs(obj, name, type_, reflected, compare_to):
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return table is None or table.name not in ELSEWHERE


@pytest.mark.parametrize("service,models,migrations", [
    ("appeals", "services.appeals.models", "services.appeals.service"),
    ("inspections", "services.inspections.models", "services.inspections.entrypoints.base"),
    ("notify", "services.notify.models", "services.notify.service"),
    ("scoring", "services.scoring.models", "services.scoring.service"),
    ("gateway", "gateway.models", "gateway.routes.base"),
])
def test_models_match_migrations(db_factory, service, models, migrations):
    engine = make_engine(db_factory(f"schema_{service}"))
    try:
        migrate(engine, importlib.import_module(migrations).MIGRATIONS)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": True, "include_object": _theirs})
            diff = compare_metadata(context, importlib.import_module(models).Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"{service}: models and migrations differ: {diff}"
