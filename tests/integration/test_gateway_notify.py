"""Notify through the gateway, end to end: an enterprise files a one-tap
appointment over HTTP → appeals' outbox → the real broker → notify → the
department head's SMS at the local endpoint through Tencent's SDK; the inbox,
webhooks and deliveries over HTTP, each caller seeing only its own (GW-2, GW-3)."""
import pytest

from services.notify.sandbox import Sandbox
from services.notify.service import NotifyService
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    api, appeal_body, assert_problem, stack, who)
from tests.integration.test_notify_flow import HEAD_APPROVAL, wait_until

pytestmark = pytest.mark.integration

OPERATIONS = {
    ("/api/v1/inbox", "get"), ("/api/v1/inbox/{item_id}/read", "post"),
    ("/api/v1/webhooks", "post"), ("/api/v1/webhooks", "get"),
    ("/api/v1/webhooks/{item_id}/rotate-secret", "post"), ("/api/v1/webhooks/{item_id}", "delete"),
    ("/api/v1/deliveries", "get"), ("/api/v1/deliveries/{item_id}/resend", "post"),
    ("/api/v1/pushes", "post"), ("/api/v1/licences/import", "post"),
    ("/api/v1/enterprise-contacts/import", "post"),
}


@pytest.fixture
def sandbox():
    box = Sandbox().start()
    yield box
    box.stop()


@pytest.fixture
def notify(start_service, db_factory, sandbox):
    return start_service(NotifyService, DB_URL=db_factory("notify"), SMS_ENDPOINT=sandbox.endpoint,
                         SMS_PROTOCOL="http", DISPATCH_INTERVAL_SECONDS=0.1, SMTP_PORT=1)


def test_one_tap_over_http_reaches_the_head_and_the_inbox(api, who, notify, sandbox):
    # rule: NOT-1, GW-2
    body = appeal_body(channel="one_tap")
    body.pop("enterprise_code")
    r = api.post("/api/v1/appeals", who=who["ent_a"], json=body)
    assert r.status_code == 201, r.text
    sms = wait_until(lambda: sandbox.sms_to(HEAD_APPROVAL))
    assert str(r.json()["id"]) in sms[0]["params"][0]
    # appeals announces created and assigned: the head is told once
    items = wait_until(lambda: api.get("/api/v1/inbox", who=who["lead"]).json()["items"])
    assert items[0]["event_type"] == "appeal.created" and items[0]["read"] is False
    assert api.get("/api/v1/inbox", who=who["other_dept"]).json()["items"] == []
    assert_problem(api.post(f"/api/v1/inbox/{items[0]['id']}/read", who=who["other_dept"],
                            json={"read": True}), 404)
    marked = api.post(f"/api/v1/inbox/{items[0]['id']}/read", who=who["lead"], json={"read": True})
    assert marked.status_code == 200 and marked.json()["read"] is True
    assert api.get("/api/v1/inbox?unread=true", who=who["lead"]).json() == {"items": [], "unread": 0}
    assert len(sandbox.sms_to(HEAD_APPROVAL)) == 1
    # the task force sees every delivery, addresses masked; others may not look
    page = api.get("/api/v1/deliveries?channel=sms", who=who["taskforce"]).json()
    assert page["items"][0]["status"] == "sent" and "****" in page["items"][0]["address"]
    assert_problem(api.get("/api/v1/deliveries", who=who["lead"]), 403)
    assert_problem(api.get("/api/v1/deliveries?status=lost", who=who["taskforce"]), 422)


def test_webhook_subscription_over_http(api, who, notify):
    # rule: GW-3
    r = api.post("/api/v1/webhooks", who=who["lead"],
                 json={"url": "http://127.0.0.1:9/hook", "event_types": ["appeal.created"]})
    body = assert_problem(r, 422)
    assert "url" in body["errors"]
    r = api.post("/api/v1/webhooks", who=who["ent_a"],
                 json={"url": "https://example.invalid/h", "event_types": ["appeal.created"]})
    assert_problem(r, 403)
    r = api.post("/api/v1/webhooks", who=who["lead"], json={"url": "https://x", "event_types": [],
                                                           "extra": 1})
    assert set(assert_problem(r, 422)["errors"]) == {"event_types", "extra"}
    assert api.get("/api/v1/webhooks", who=who["lead"]).json() == []
