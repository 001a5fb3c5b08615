"""Rectification lists (整改清单, APP-9): an evaluation's findings become items
with owners and deadlines, ticked off (销号) one by one with evidence."""
from services.appeals.schemas import (RectificationClose, RectificationListIn,
                                      RectificationListOut, RectificationListQuery,
                                      RectificationOut)

from ..access import DEPARTMENT, REPORTERS, STAFF
from ..http import json_response, query_args, read_json, route
from ..schemas import MAX_ID, load, project
from .base import RoutesBase, rpc_safe

_TAGS = ("rectification",)


class RectificationRoutes(RoutesBase):

    @route("POST", "/api/v1/rectification-lists", roles=STAFF, tags=_TAGS,
           body=RectificationListIn, response=RectificationListOut, status=201,
           example={"source": "2026年营商环境第三方评估", "title": "第三方评估整改清单",
                    "findings": [{"problem": "审批时限压缩不到位", "measure": "并联审批",
                                  "lead_department": "approval", "responsible_leader": "王副县长",
                                  "co_departments": ["market"], "deadline": "2026-12-31"}]},
           summary="Make a rectification list from an evaluation's findings (APP-9)",
           description="One item per finding, each with its lead department, responsible "
                       "leader, co-handling departments and deadline.")
    def create_rectification_list(self, request):
        self.gate.enter(request)
        data = rpc_safe(load(RectificationListIn, read_json(request)))
        made = self.appeals.create_rectification_list(data)
        return json_response(project(RectificationListOut, made), 201,
                             {"Location": f"/api/v1/rectification-lists/{made['id']}"})

    @route("GET", "/api/v1/rectification-lists", roles=REPORTERS, tags=_TAGS,
           query=RectificationListQuery, response=RectificationListOut, response_many=True,
           summary="The rectification lists with their progress, newest first (APP-9)",
           description="A department sees the lists with items it leads or co-handles, and "
                       "only those items.")
    def list_rectification_lists(self, request):
        self.gate.enter(request)
        query = load(RectificationListQuery, query_args(request))
        return json_response([project(RectificationListOut, r)
                              for r in self.appeals.list_rectification_lists(query)])

    @route("GET", f"/api/v1/rectification-lists/<int(min=1, max={MAX_ID}):list_id>",
           roles=REPORTERS, tags=_TAGS, response=RectificationListOut,
           summary="One rectification list: its items and progress (APP-9)")
    def get_rectification_list(self, request, list_id):
        self.gate.enter(request)
        return json_response(project(RectificationListOut,
                                     self.appeals.get_rectification_list(list_id)))

    @route("POST", f"/api/v1/rectification-items/<int(min=1, max={MAX_ID}):item_id>/close",
           roles=(DEPARTMENT,) + STAFF, tags=_TAGS, body=RectificationClose,
           example={"note": "已压缩至3个工作日", "evidence": [
               {"name": "整改报告.pdf", "url": "https://files.example.cn/r/1.pdf"}]},
           response=RectificationOut, errors=(409,),
           summary="Close an item (销号) with the evidence that it is done (APP-9)",
           description="The lead department or the task force; 409 when it is already closed.")
    def close_rectification_item(self, request, item_id):
        self.gate.enter(request)
        data = load(RectificationClose, read_json(request))
        return json_response(project(RectificationOut,
                                     self.appeals.tick_off_rectification(item_id, data)))
