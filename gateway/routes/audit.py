"""The audit trail for the task force (an inspection of the inspectors):
every write of a service, who made it, when, under which request."""
from marshmallow import Schema, fields

from kernel.errors import BadInput, NotFound

from ..access import STAFF
from ..http import json_response, query_args, route
from .base import RoutesBase

AUDITED = ("appeals", "gateway", "inspections")


class AuditChange(Schema):
    table = fields.String(metadata={"example": "appeals"})
    op = fields.String(metadata={"description": "insert | update | delete"})
    key = fields.String(allow_none=True, metadata={"description": "the row's key, when known"})
    more = fields.Integer(metadata={"description": "changes left out of a very large write"})


class AuditRow(Schema):
    id = fields.Integer()
    at = fields.String(metadata={"description": "when (ISO 8601, UTC)"})
    service = fields.String()
    entrypoint = fields.String(metadata={"example": "create_appeal"})
    credential = fields.String(metadata={"example": "taskforce:tf-1@taskforce"})
    request_id = fields.String(allow_none=True)
    call_id = fields.String(allow_none=True)
    changes = fields.List(fields.Nested(AuditChange))


class AuditPage(Schema):
    items = fields.List(fields.Nested(AuditRow))
    next_after_id = fields.Integer(metadata={"description": "after_id of the next page"})


class AuditRoutes(RoutesBase):

    @route("GET", "/api/v1/audit/<service>", roles=STAFF, tags=("audit",),
           response=AuditPage,
           summary="Export a service's audit trail (append-only), oldest first, in pages",
           description="`after_id` (the last id of the previous page) and `limit` (1 … 1000) "
                       "page through it. The service is appeals, inspections or gateway.")
    def export_audit(self, request, service):
        self.gate.enter(request)
        if service not in AUDITED:
            raise NotFound("no such service")
        args = query_args(request)
        errors, query = {}, {}
        for name, low, high, default in (("after_id", 0, 2**62, 0), ("limit", 1, 1000, 1000)):
            raw = args.get(name, str(default))
            if not raw.isdigit() or not low <= int(raw) <= high:
                errors[name] = [f"must be a whole number from {low} to {high}"]
            else:
                query[name] = int(raw)
        unknown = set(args) - {"after_id", "limit"}
        errors.update({name: ["unknown field"] for name in unknown})
        if errors:
            raise BadInput(errors)
        if service == "gateway":
            items = self.audit.export(**query)
        else:
            items = getattr(self, service).export_audit(query)
        return json_response({"items": items,
                              "next_after_id": items[-1]["id"] if items else query["after_id"]})
