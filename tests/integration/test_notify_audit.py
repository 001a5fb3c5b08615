"""Notify in the kernel's one service shape: its writes land in its audit
trail, and its admin port answers the probes. Real broker, real database."""
import pytest

from kernel.errors import Forbidden
from services.notify.service import NotifyService
from tests.conftest import ENTERPRISE_A
from tests.support.probes import admin_get

pytestmark = pytest.mark.integration


def test_a_contact_import_is_audited_with_caller_and_request_id_and_the_admin_port_is_ready(
        start_service, db_factory, rpc, callers):
    # rule: NOT-2 (who changed whom the platform reaches is on record), GW-2
    notify = start_service(NotifyService, DB_URL=db_factory("notify"),
                           LICENCE_SWEEP_SECONDS=3600)
    header = "credit_code,phone,email,wechat_openid\n"
    with rpc(callers["taskforce"], request_id="req-notify-1") as p:
        refused = p.notify.import_contacts({"csv": header + "not-a-code,13900000001,,\n"})
        assert refused["imported"] == 0 and refused["errors"]  # refused: no write, no audit row
        done = p.notify.import_contacts({"csv": header + f"{ENTERPRISE_A},13900000001,,oid-a\n"})
        assert done == {"imported": 1, "errors": []}
        rows = p.notify.export_audit()
    with rpc(callers["ent_a"]) as p:
        with pytest.raises(Forbidden):  # the trail is the task force's to read
            p.notify.export_audit()
    [row] = [r for r in rows if r["entrypoint"] == "import_contacts"]
    assert row["service"] == "notify" and row["request_id"] == "req-notify-1"
    assert row["credential"] == "taskforce:tf-1@taskforce"
    assert {"table": "enterprises", "op": "insert", "key": None} in row["changes"]
    assert "13900000001" not in str(rows)  # the trail says what changed, not the phone

    ready = admin_get(notify, "/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"service": "notify", "database": "ok", "broker": "ok",
                            "status": "ready"}
