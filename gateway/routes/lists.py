"""The three lists (三张清单, APP-8): a department's task, responsibility and
deadline lists for a period, as JSON, CSV or XLSX."""
import base64

from werkzeug.wrappers import Response

from services.appeals.schemas import DepartmentList, DepartmentListQuery

from ..access import REPORTERS
from ..http import json_response, query_args, route
from ..schemas import load, project
from .base import RoutesBase, rpc_safe

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ListRoutes(RoutesBase):

    @route("GET", "/api/v1/lists/<any(tasks, responsibilities, deadlines):list_name>",
           roles=REPORTERS, tags=("appeals",), query=DepartmentListQuery,
           response=DepartmentList,
           content={"text/csv": "CSV, UTF-8 (format=csv)", XLSX: "Excel workbook (format=xlsx)"},
           summary="A department's task, responsibility or deadline list (三张清单, APP-8)",
           description="tasks: appeals it leads being handled and rectification items it leads "
                       "still open; responsibilities: everything it leads or co-handles, with "
                       "its role; deadlines: the same, soonest deadline first. The period "
                       "selects by arrival (tasks, responsibilities) or by deadline "
                       "(deadlines). A department sees its own lists only.")
    def department_list(self, request, list_name):
        self.gate.enter(request)
        query = rpc_safe(load(DepartmentListQuery, query_args(request)))
        out = self.appeals.department_list(list_name, query)
        if query.get("format", "json") == "json":
            return json_response(project(DepartmentList, out))
        return Response(base64.b64decode(out["content_base64"]), content_type=out["content_type"],
                        headers={"Content-Disposition": f'attachment; filename="{out["filename"]}"',
                                 "X-Row-Count": str(out["rows"])})
