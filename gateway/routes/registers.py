"""Routes of the inspections service's registers (INS-1 三个全覆盖): the
departments' lists of inspection items and rosters of inspectors, and the
history of every change to them. (The enterprise directory's CSV import is
``POST /api/v1/directory/import`` in ``routes/inspections.py``.)

Who may change which entry — the task force any item; a department its own
roster — the inspections service decides; here only roles that never may are
refused."""
from services.inspections.schemas import (InspectorBody, InspectorList, InspectorOut, ItemBody,
                                          ItemList, ItemOut, RegisterHistory,
                                          RegisterHistoryQuery)

from ..access import INSPECTION_FILERS, STAFF
from ..circuit import GuardedRpcProxy
from ..http import json_response, query_args, read_json, route
from ..schemas import load, project
from .base import RoutesBase, rpc_safe

TAGS = ("inspections",)  # listed with the inspections on /docs
CODE = "<code>"


class RegisterRoutes(RoutesBase):
    inspections = GuardedRpcProxy("inspections")

    @route("GET", "/api/v1/registers/items", roles=INSPECTION_FILERS, tags=TAGS,
           response=ItemList, summary="The county's list of inspection items, by department (INS-1)")
    def list_items(self, request):
        self.gate.enter(request)
        department = request.args.get("department") or None
        return json_response({"items": [project(ItemOut, i)
                                        for i in self.inspections.list_items(department)]})

    @route("PUT", "/api/v1/registers/items/" + CODE, roles=STAFF, tags=TAGS, body=ItemBody,
           response=ItemOut, summary="Add or change an inspection item (the task force); "
                                     "the change is kept in the history (INS-1)")
    def put_item(self, request, code):
        self.gate.enter(request)
        data = rpc_safe(load(ItemBody, read_json(request)))
        return json_response(project(ItemOut, self.inspections.upsert_item({**data, "code": code})))

    @route("GET", "/api/v1/registers/inspectors", roles=INSPECTION_FILERS, tags=TAGS,
           response=InspectorList,
           summary="The roster of inspectors: a department its own, the task force any (INS-1)")
    def list_inspectors(self, request):
        self.gate.enter(request)
        department = request.args.get("department") or None
        return json_response({"items": [project(InspectorOut, p)
                                        for p in self.inspections.list_inspectors(department)]})

    @route("PUT", "/api/v1/registers/inspectors/" + CODE, roles=INSPECTION_FILERS, tags=TAGS,
           body=InspectorBody, response=InspectorOut,
           summary="Add or change an inspector on a department's roster (the department or the "
                   "task force); the change is kept in the history (INS-1)")
    def put_inspector(self, request, code):
        self.gate.enter(request)
        data = rpc_safe(load(InspectorBody, read_json(request)))
        return json_response(project(InspectorOut,
                                     self.inspections.upsert_inspector({**data, "code": code})))

    @route("GET", "/api/v1/registers/history", roles=INSPECTION_FILERS, tags=TAGS,
           query=RegisterHistoryQuery, response=RegisterHistory,
           summary="Every change to the items and the rosters, newest first: who, when, each "
                   "field before and after (INS-1); a department sees its own")
    def register_history(self, request):
        self.gate.enter(request)
        query = rpc_safe(load(RegisterHistoryQuery, query_args(request)))
        return json_response(project(RegisterHistory, self.inspections.register_history(query)))
