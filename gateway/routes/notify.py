"""Routes of the notify service (通知): the inbox, webhooks (GW-3), deliveries,
pushes and imports. Validated by notify's published contract
(``services/notify/schemas.py``); notify checks the caller again.

Notify down, these routes answer 503 at once (its circuit) and /readyz reports it
without taking the gateway out of rotation.
"""
from werkzeug.wrappers import Response

from services.notify import schemas as ns

from ..access import DEPARTMENT, ENTERPRISE, STAFF, TASKFORCE, ADMIN
from ..circuit import GuardedRpcProxy
from ..http import json_response, query_args, read_json, route
from ..schemas import MAX_ID, load, project
from .base import RoutesBase, rpc_safe

TAGS = ("notify",)
INBOX_OWNERS = (ENTERPRISE, DEPARTMENT, TASKFORCE)
SUBSCRIBERS = (DEPARTMENT, TASKFORCE, ADMIN)
ID = f"<int(min=1, max={MAX_ID}):item_id>"


class NotifyRoutes(RoutesBase):
    notify = GuardedRpcProxy("notify")

    # -- the inbox ------------------------------------------------------------------------
    @route("GET", "/api/v1/inbox", roles=INBOX_OWNERS, tags=TAGS, query=ns.InboxQuery,
           response=ns.InboxPage,
           summary="The caller's own inbox, newest first (NOT-3): an enterprise's, or its "
                   "department's for an official")
    def list_inbox(self, request):
        self.gate.enter(request)
        query = load(ns.InboxQuery, query_args(request))
        return json_response(project(ns.InboxPage, self.notify.list_inbox(query)))

    @route("POST", f"/api/v1/inbox/{ID}/read", roles=INBOX_OWNERS, tags=TAGS, body=ns.MarkRead,
           example={"read": True},
           response=ns.InboxItem, summary="Mark one message read or unread; 404 when not the caller's")
    def mark_inbox(self, request, item_id):
        self.gate.enter(request)
        body = load(ns.MarkRead, read_json(request))
        return json_response(project(ns.InboxItem, self.notify.mark_inbox(item_id, body)))

    # -- webhooks (GW-3) -----------------------------------------------------------------
    @route("POST", "/api/v1/webhooks", roles=SUBSCRIBERS, tags=TAGS, status=201,
           body=ns.WebhookCreate, response=ns.WebhookWithSecret,
           example={"url": "https://oa.example.cn/hooks/qinqing",
                    "event_types": ["appeal.assigned", "appeal.escalated"]},
           summary="Subscribe a department system to events about its own objects",
           description="Deliveries follow Standard Webhooks (`webhook-id`, `webhook-timestamp`, "
                       "`webhook-signature`), signed with the secret answered here, once. "
                       "Loopback, link-local and private targets are refused unless allow-listed; "
                       "https is required in production.")
    def create_webhook(self, request):
        self.gate.enter(request)
        body = load(ns.WebhookCreate, read_json(request))
        made = self.notify.create_webhook(body)
        return json_response(project(ns.WebhookWithSecret, made), 201,
                             {"Location": f"/api/v1/webhooks/{made['id']}", "Cache-Control": "no-store"})

    @route("GET", "/api/v1/webhooks", roles=SUBSCRIBERS, tags=TAGS, response=ns.Webhook,
           response_many=True, summary="The caller's subscriptions (never their secrets)")
    def list_webhooks(self, request):
        self.gate.enter(request)
        return json_response([project(ns.Webhook, w) for w in self.notify.list_webhooks()])

    @route("POST", f"/api/v1/webhooks/{ID}/rotate-secret", roles=SUBSCRIBERS, tags=TAGS,
           response=ns.WebhookWithSecret, summary="A new signing secret, shown once")
    def rotate_webhook_secret(self, request, item_id):
        self.gate.enter(request)
        return json_response(project(ns.WebhookWithSecret, self.notify.rotate_webhook_secret(item_id)),
                             headers={"Cache-Control": "no-store"})

    @route("DELETE", f"/api/v1/webhooks/{ID}", roles=SUBSCRIBERS, tags=TAGS, status=204,
           summary="Unsubscribe")
    def delete_webhook(self, request, item_id):
        self.gate.enter(request)
        self.notify.delete_webhook(item_id)
        return Response(status=204)

    # -- deliveries (the task force) ---------------------------------------------------------
    @route("GET", "/api/v1/deliveries", roles=STAFF, tags=TAGS, query=ns.DeliveryQuery,
           response=ns.DeliveryPage,
           summary="Every delivery's status: queued, waiting_for_morning, held, sent, failed, dead")
    def list_deliveries(self, request):
        self.gate.enter(request)
        query = load(ns.DeliveryQuery, query_args(request))
        return json_response(project(ns.DeliveryPage, self.notify.list_deliveries(query)))

    @route("POST", f"/api/v1/deliveries/{ID}/resend", roles=STAFF, tags=TAGS,
           response=ns.Delivery, summary="Send a dead delivery again")
    def resend(self, request, item_id):
        self.gate.enter(request)
        return json_response(project(ns.Delivery, self.notify.resend(item_id)))

    # -- pushes and imports (NOT-2) ------------------------------------------------------------
    @route("POST", "/api/v1/pushes", roles=STAFF, tags=TAGS, status=201, body=ns.PushCreate,
           example={"kind": "policy", "title": "新一轮技改补贴开始申报",
                    "body": "符合条件的规上工业企业可于12月31日前申报技改补贴，详见县政府网站。",
                    "tags": {"industry": ["manufacturing"], "size": ["above_scale"]}},
           response=ns.PushOut,
           summary="Push a policy, a tax refund or a dishonesty warning to the enterprises "
                   "whose tags match (industry, size, town), each once")
    def push(self, request):
        self.gate.enter(request)
        body = rpc_safe(load(ns.PushCreate, read_json(request)))
        return json_response(project(ns.PushOut, self.notify.push(body)), 201)

    @route("POST", "/api/v1/licences/import", roles=STAFF, tags=TAGS, body=ns.CsvImport,
           example={"csv": "credit_code,licence_no,name,expires_on\n"
                           "91433126MA4L00010B,JY14331260001234,食品经营许可证,2027-03-31\n"},
           response=ns.ImportResult,
           summary="Licences with expiry dates (CSV: credit_code,licence_no,name,expires_on); "
                   "bad rows named by line, nothing imported then")
    def import_licences(self, request):
        self.gate.enter(request)
        return json_response(project(ns.ImportResult, self.notify.import_licences(
            load(ns.CsvImport, read_json(request)))))

    @route("POST", "/api/v1/enterprise-contacts/import", roles=STAFF, tags=TAGS,
           body=ns.CsvImport, response=ns.ImportResult,
           example={"csv": "credit_code,phone,email,wechat_openid\n"
                           "91433126MA4L00010B,13912340001,info@example.com,\n"},
           summary="Enterprise contacts (CSV: credit_code,phone,email,wechat_openid)")
    def import_contacts(self, request):
        self.gate.enter(request)
        return json_response(project(ns.ImportResult, self.notify.import_contacts(
            load(ns.CsvImport, read_json(request)))))
