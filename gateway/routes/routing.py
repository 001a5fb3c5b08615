"""The routing table (精准交办, APP-2): which department leads and which co-handle
an appeal of a category in a town. The task force only; every change is kept."""
from werkzeug.wrappers import Response

from services.appeals.schemas import (RouteChange, RouteHistoryEntry, RouteHistoryQuery, RouteIn,
                                      RouteOut)

from ..access import STAFF
from ..http import json_response, query_args, read_json, route
from ..schemas import load, project
from .base import RoutesBase

ROUTE = "/api/v1/routes/<category>/<town>"
_TAGS = ("routing",)


class RoutingRoutes(RoutesBase):

    @route("GET", "/api/v1/routes", roles=STAFF, tags=_TAGS, response=RouteOut,
           response_many=True, summary="The routing table (APP-2), by category and town",
           description="Town `*` is the category's route for every town without its own.")
    def list_routes(self, request):
        self.gate.enter(request)
        return json_response([project(RouteOut, r) for r in self.appeals.list_routes()])

    @route("POST", "/api/v1/routes", roles=STAFF, tags=_TAGS, body=RouteIn, response=RouteOut,
           status=201, errors=(409,), summary="Add a route (APP-2); 409 when it exists",
           description="New appeals of this category in this town go to these departments; "
                       "appeals already assigned keep theirs.")
    def add_route(self, request):
        self.gate.enter(request)
        data = load(RouteIn, read_json(request))
        made = self.appeals.set_route(data, "add")
        return json_response(project(RouteOut, made), 201,
                             {"Location": f"/api/v1/routes/{made['category']}/{made['town']}"})

    @route("PUT", ROUTE, roles=STAFF, tags=_TAGS, body=RouteChange, response=RouteOut,
           summary="Change a route's departments (APP-2)",
           description="The change and what the route was before go into its history.")
    def change_route(self, request, category, town):
        self.gate.enter(request)
        data = load(RouteChange, read_json(request))
        changed = self.appeals.set_route({**data, "category": category, "town": town}, "change")
        return json_response(project(RouteOut, changed))

    @route("DELETE", ROUTE, roles=STAFF, tags=_TAGS, status=204,
           summary="Retire a route (APP-2)",
           description="Appeals of this category in this town then follow the category's `*` "
                       "route, or wait for the task force to assign them.")
    def retire_route(self, request, category, town):
        self.gate.enter(request)
        self.appeals.delete_route(category, town)
        return Response(status=204)

    @route("GET", "/api/v1/routes/history", roles=STAFF, tags=_TAGS, query=RouteHistoryQuery,
           response=RouteHistoryEntry, response_many=True,
           summary="The routing table's history: every route added, changed or retired, "
                   "newest first (APP-2)")
    def route_history(self, request):
        self.gate.enter(request)
        query = load(RouteHistoryQuery, query_args(request))
        return json_response([project(RouteHistoryEntry, e)
                              for e in self.appeals.route_history(query)])
