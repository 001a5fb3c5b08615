"""Migration 0002 carries existing appeals' co-handlers over (issue #10, item 8)."""
import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from kernel.db import UTCDateTime, make_engine, migrate
from services.appeals.service import MIGRATIONS

pytestmark = pytest.mark.integration


def test_item8_migration_moves_co_handlers_to_their_own_rows(db_factory):
    # rule: APP-2
    engine = make_engine(db_factory("appeals"))
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    now = dt.datetime(2026, 11, 30, 2, tzinfo=dt.timezone.utc)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.commit()
        row = dict(channel="mini_program", enterprise_code="91433126MA4L00010B",
                   contact_name="张明", contact_phone="+8613912340001", category="permit",
                   town="hongshi", title="t", content="c", attachments=[], tier="yellow",
                   status="assigned", lead_department="approval", received_at=now,
                   created_by="u", created_at=now, updated_at=now, escalation_level=1,
                   under_review=False, reopen_count=0, instructions=0, extensions=0, version=1)
        types = {"attachments": sa.JSON, "co_departments": sa.JSON, "received_at": UTCDateTime,
                 "created_at": UTCDateTime, "updated_at": UTCDateTime}
        appeals = sa.table("appeals", *[sa.column(k, types.get(k)) for k in [*row, "co_departments"]])
        conn.execute(appeals.insert(), [{**row, "co_departments": ["road_1", "market"]},
                                        {**row, "co_departments": []}])
        escalations = sa.table("escalations", sa.column("appeal_id"), sa.column("level"),
                               sa.column("step"), sa.column("at", UTCDateTime))
        conn.execute(escalations.insert(), {"appeal_id": 1, "level": 1, "step": "reminder",
                                            "at": now})
        conn.commit()
    migrate(engine, MIGRATIONS)
    with engine.connect() as conn:
        links = conn.execute(sa.text("SELECT appeal_id, department FROM appeal_co_departments "
                                     "ORDER BY id")).all()
        rounds = conn.execute(sa.text("SELECT appeal_id, round, level FROM escalations")).all()
        failures = conn.execute(sa.text("SELECT sweep_failures FROM appeals")).scalars().all()
    engine.dispose()
    assert links == [(1, "road_1"), (1, "market")]
    assert rounds == [(1, 0, 1)] and failures == [0, 0]
