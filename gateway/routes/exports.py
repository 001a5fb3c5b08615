"""Ledger exports as jobs (issue 13): start one, watch its progress, download
the file by its link. The service writes the file page by page; the gateway
fetches it in small chunks into a temporary file and streams that, so neither
holds the whole export in memory or in one RPC reply."""
import re
import tempfile
import base64

from marshmallow import Schema, fields
from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

from kernel.errors import NotFound

from ..access import REPORTERS
from ..http import json_response, query_args, route
from ..schemas import load
from services.appeals.schemas import ExportQuery
from .base import RoutesBase, rpc_safe

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class ExportJob(Schema):
    id = fields.String()
    status = fields.String(metadata={"description": "queued, running, done or failed"})
    format = fields.String()
    filename = fields.String()
    content_type = fields.String()
    rows_done = fields.Integer()
    rows_total = fields.Integer()
    size = fields.Integer(metadata={"description": "bytes, once done"})
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)
    download = fields.String(allow_none=True, metadata={"description": "the file's link, once done"})


def _job(out):
    done = out["status"] == "done"
    return {**rpc_safe(out), "download": f"/api/v1/exports/{out['id']}/file" if done else None}


class ExportRoutes(RoutesBase):

    @route("POST", "/api/v1/appeals/exports", roles=REPORTERS, tags=("appeals",), status=202,
           query=ExportQuery, response=ExportJob,
           summary="Start an export of the ledger (APP-8), with the list's filters; "
                   "follow its progress at Location")
    def start_appeals_export(self, request):
        self.gate.enter(request)
        query = rpc_safe(load(ExportQuery, query_args(request)))
        out = _job(self.appeals.start_export(query))
        return json_response(out, 202, {"Location": f"/api/v1/exports/{out['id']}"})

    @route("GET", "/api/v1/exports/<job_id>", roles=REPORTERS, tags=("appeals",),
           response=ExportJob, summary="An export's progress, and its link once done")
    def export_status(self, request, job_id):
        self.gate.enter(request)
        return json_response(_job(self.appeals.export_status(_checked(job_id))))

    @route("GET", "/api/v1/exports/<job_id>/file", roles=REPORTERS, tags=("appeals",),
           content={"text/csv": "CSV, UTF-8", "application/octet-stream": "Excel workbook"},
           summary="Download a finished export")
    def export_file(self, request, job_id):
        self.gate.enter(request)
        job = self.appeals.export_status(_checked(job_id))
        if job["status"] != "done":
            raise NotFound("the export is not ready")
        spool = tempfile.TemporaryFile()
        offset = 0
        while True:
            part = base64.b64decode(self.appeals.export_chunk(job["id"], offset)["content_base64"])
            if not part:
                break
            spool.write(part)
            offset += len(part)
        spool.seek(0)
        return Response(wrap_file(request.environ, spool), content_type=job["content_type"],
                        direct_passthrough=True,
                        headers={"Content-Disposition": f'attachment; filename="{job["filename"]}"',
                                 "Content-Length": str(offset), "X-Row-Count": str(job["rows_done"])})


def _checked(job_id):
    if not _JOB_ID.match(job_id or ""):
        raise NotFound("no such export")
    return job_id
