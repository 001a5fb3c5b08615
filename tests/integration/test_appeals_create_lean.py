"""Filing an appeal without the ORM's unit of work (issue #16): the answer
is built from what was written, so it must be exactly what reading the appeal
back gives — enterprise name (read by the INSERT), co-handlers, history."""
import pytest
from sqlalchemy import text

from kernel.calendar import utcnow
from kernel.db import make_engine
from services.appeals.service import AppealsService
from tests.conftest import ENTERPRISE_A, ENTERPRISE_B
from tests.integration.test_appeals_flow import new_appeal as body

pytestmark = pytest.mark.integration


def test_the_answer_of_a_new_appeal_is_what_reading_it_back_gives(start_service, db_factory,
                                                                  rpc, callers):
    # rule: APP-1, APP-2
    url = db_factory("appeals")
    start_service(AppealsService, DB_URL=url)
    engine = make_engine(url)
    with engine.begin() as c:  # the directory knows enterprise A, not B
        c.execute(text("INSERT INTO enterprises (credit_code, name, key_enterprise, updated_at) "
                       "VALUES (:c, :n, false, :t)"),
                  {"c": ENTERPRISE_A, "n": "示范县茶业有限公司", "t": utcnow()})
    with rpc(callers["ent_a"]) as p:
        created = p.appeals.create_appeal(body())
    with rpc(callers["hotline"]) as p:
        unknown = p.appeals.create_appeal(body(enterprise_code=ENTERPRISE_B, category="tax"))
    with rpc(callers["taskforce"]) as p:
        read_a = p.appeals.get_appeal(created["id"])
        read_b = p.appeals.get_appeal(unknown["id"])
    assert created == read_a and unknown == read_b
    assert created["enterprise_name"] == "示范县茶业有限公司"
    assert unknown["enterprise_name"] is None
    assert created["status"] == "assigned" and created["lead_department"]
    assert [h["action"] for h in created["history"]] == ["create", "assign"]
    with engine.connect() as c:
        version, co = c.execute(text(
            "SELECT version, (SELECT count(*) FROM appeal_co_departments WHERE appeal_id = a.id) "
            "FROM appeals a WHERE id = :i"), {"i": created["id"]}).one()
        staged = c.execute(text("SELECT event_type FROM outbox ORDER BY id")).scalars().all()
    engine.dispose()
    assert version == 1  # the ORM's version counter, as an ORM insert starts it
    assert co == len(created["co_departments"])
    assert staged[:3] == ["appeal.created", "appeal.assigned", "appeal.status_changed"]
