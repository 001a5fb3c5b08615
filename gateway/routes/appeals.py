"""Routes of the appeals service (诉求): /api/v1/appeals… and /api/v1/reference."""
import base64

from werkzeug.wrappers import Response

from kernel.errors import NotFound
from services.appeals.schemas import (ACTION_BODIES, ACTION_SUMMARIES, Appeal, AppealCreate,
                                      AppealPage, AppealQuery, AppealSummary, QuickExportQuery,
                                      MonthlyStats, Reference, StatsQuery)

from ..access import ACTION_ROLES, ANY_CALLER, REPORTERS, check_action
from ..http import json_response, query_args, read_json, route
from ..schemas import MAX_ID, load, project
from .base import RoutesBase, idempotency, rpc_safe

# What a client sends for each action of the closed loop, for the document (GW-1).
ACTION_EXAMPLES = {
    "assign": {"department": "approval", "co_departments": ["market"], "tier": "yellow",
               "note": "请于时限内办结"},
    "accept": {"note": "已签收"},
    "reply": {"content": "已办结, 新执照已寄出"},
    "transfer": {"department": "market", "reason": "属市场监管职责"},
    "return": {"reason": "不属本单位职责, 请重新交办"},
    "extend": {"days": 5, "reason": "需现场核实"},
    "approve_extension": {"note": "同意延期"},
    "reject_extension": {"note": "请按原时限办结"},
    "instruct": {"content": "请县行政审批服务局两日内办结并回复"},
    "feedback": {"rating": 5, "comment": "满意"},
    "reopen": {"reason": "企业反映问题仍未解决"},
}
APPEAL = f"/api/v1/appeals/<int(min=1, max={MAX_ID}):appeal_id>"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class AppealRoutes(RoutesBase):

    @route("POST", "/api/v1/appeals", roles=ANY_CALLER, tags=("appeals",), status=201,
           idempotent=True,
           summary="File an appeal (APP-1)", body=AppealCreate, response=Appeal,
           description="Honours an `Idempotency-Key` header (1–100 printable ASCII characters): "
                       "the same key from the same caller gives the same appeal, made once.")
    def create_appeal(self, request):
        caller = self.gate.enter(request)
        data = rpc_safe(load(AppealCreate, read_json(request), caller=caller))
        data.update(idempotency(request))
        # The filer gets back what it filed, even when routing sends it to
        # another department than the filer's own (a window registering a walk-in).
        appeal = self.appeals.create_appeal(data)
        return json_response(project(Appeal, appeal), 201,
                             {"Location": f"/api/v1/appeals/{appeal['id']}"})

    @route("GET", "/api/v1/appeals", roles=ANY_CALLER, tags=("appeals",),
           summary="The ledger (台账): the caller's appeals, newest first (APP-8, GW-2)",
           description="An enterprise sees its own appeals, a department those it leads or "
                       "co-handles, a channel key those it filed, the task force all.",
           query=AppealQuery, response=AppealPage)
    def list_appeals(self, request):
        self.gate.enter(request)
        query = rpc_safe(load(AppealQuery, query_args(request)))
        page = self.appeals.list_appeals(query)
        items = page["items"]
        return json_response({"items": [project(AppealSummary, a) for a in items],
                              "next_cursor": page["next_cursor"]})

    @route("GET", APPEAL, roles=ANY_CALLER, tags=("appeals",), response=Appeal,
           summary="One appeal with its history; 404 when it is not the caller's (GW-2)")
    def get_appeal(self, request, appeal_id):
        self.gate.enter(request)
        appeal = self.appeals.get_appeal(appeal_id)
        return json_response(project(Appeal, appeal))

    @route("POST", APPEAL + "/<action>", roles=ANY_CALLER, tags=("appeals",), response=Appeal,
           summary="An action of the closed loop (APP-6)", errors=(409,),
           variants={a: {"body": ACTION_BODIES[a], "summary": ACTION_SUMMARIES[a],
                         "roles": ACTION_ROLES[a], "example": ACTION_EXAMPLES[a]}
                     for a in ACTION_BODIES})
    def act(self, request, appeal_id, action):
        caller = self.gate.enter(request)
        if action not in ACTION_BODIES:
            raise NotFound(f"no such action; one of {', '.join(ACTION_BODIES)}")
        check_action(caller, action)
        params = rpc_safe(load(ACTION_BODIES[action], read_json(request)))
        appeal = self.appeals.act(appeal_id, action, params)
        return json_response(project(Appeal, appeal))

    @route("GET", "/api/v1/appeals/export", roles=REPORTERS, tags=("appeals",),
           summary="The ledger as a spreadsheet (APP-8), with the list's filters",
           query=QuickExportQuery,
           content={"text/csv": "CSV, UTF-8", XLSX: "Excel workbook"},
           description="At most 5,000 rows, answered at once; a larger ledger is exported as a "
                       "job: POST /api/v1/appeals/exports, then its download link.")
    def export_appeals(self, request):
        self.gate.enter(request)
        query = rpc_safe(load(QuickExportQuery, query_args(request)))
        out = self.appeals.export_appeals(query)
        return Response(base64.b64decode(out["content_base64"]), content_type=out["content_type"],
                        headers={"Content-Disposition": f'attachment; filename="{out["filename"]}"',
                                 "X-Row-Count": str(out["rows"])})

    @route("GET", "/api/v1/appeals/stats", roles=REPORTERS, tags=("appeals",),
           summary="Monthly statistics per lead department (APP-8)",
           query=StatsQuery, response=MonthlyStats)
    def monthly_stats(self, request):
        self.gate.enter(request)
        query = load(StatsQuery, query_args(request))
        return json_response(project(MonthlyStats, self.appeals.monthly_stats(query)))

    @route("GET", "/api/v1/reference", roles=ANY_CALLER, tags=("reference",), response=Reference,
           summary="What a client needs to fill its forms: channels, categories, towns, "
                   "departments, tiers, statuses, actions")
    def reference(self, request):
        self.gate.enter(request)
        return json_response(project(Reference, self.appeals.reference()))
