"""Routes of the inspections service (入企检查, INS-1 … INS-9).

- ``/api/v1/inspections…``: file a visit, read them, the head's decision, cancel,
  the emergency's record, results, the entry code as an image, joint visits;
- ``/api/v1/draws…``: the double random draw (双随机);
- ``/api/v1/enterprises/{code}/plan``: the yearly plan (INS-9);
- ``/api/v1/directory/import``: the market-regulation registry's CSV;
- the public pages the QR code and the draws point at: ``/verify/{token}``,
  ``/draws`` and ``/draws/{id}`` (no credential; rate limited per address).

HTML is drawn here only (``gateway/templates/``); the service answers data.
Who may take which action on a visit the service decides (its table,
``services/inspections/domain.py``); the gateway only refuses roles that never may.
"""
import base64
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from kernel.config import CountyProfile
from kernel.errors import BadInput, NotFound
from kernel.rpc import CallerIdentity
from kernel.validators import normalise_credit_code
from services.inspections.schemas import (ACTION_BODIES, ACTION_SUMMARIES, Draw, DrawCreate,
                                          DrawReplay, ExceptionsQuery, ImportReport, Inspection,
                                          InspectionCreate, InspectionPage, InspectionQuery,
                                          InspectionSummary, JointCandidates, JointMerge,
                                          JointQuery, PlanQuery, YearlyPlan)

from ..access import (ANY_CALLER, INSPECTION_ACTION_ROLES, INSPECTION_FILERS, INSPECTION_READERS,
                      STAFF, check_role)
from ..circuit import GuardedRpcProxy
from ..http import json_response, query_args, read_json, route
from ..problems import MalformedRequest, PayloadTooLarge
from ..schemas import MAX_ID, load, project
from .base import RoutesBase, idempotency, rpc_safe

INSPECTION = f"/api/v1/inspections/<int(min=1, max={MAX_ID}):inspection_id>"
DRAW_ID = f"<int(min=1, max={MAX_ID}):draw_id>"
TAGS = ("inspections",)
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# An entry-code token is "v1.<base64url>.<base64url>"; anything else is not
# worth a call to the service to be told it is invalid.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_=-]{1,20}\.[A-Za-z0-9_=-]{1,300}\.[A-Za-z0-9_=-]{1,80}$")
_CSV_MEDIA = ("text/csv", "text/plain", "application/csv")
HTML = "text/html; charset=utf-8"
CSV_BODY = {"type": "string", "description": (
    "the registry's CSV export, UTF-8 (a BOM is fine), comma-, tab- or semicolon-separated, "
    "the header on line 1; columns by header (统一社会信用代码, 企业名称, 所属乡镇, 行业, 企业规模, "
    "规上企业, 招商引资重点企业, 重点项目, 联系人, 联系电话, 住所)")}


class PublicPages(DependencyProvider):
    """The county's name and departments and the public pages' templates."""

    def setup(self):
        profile = CountyProfile.from_config(self.container.config)
        self.county = profile.name
        self.department_names = {code: d.get("name", code) for code, d in profile.departments.items()}
        self.templates = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                                     autoescape=select_autoescape(["html"]))

    def get_dependency(self, worker_ctx):
        return self

    def render(self, template, status=200, **values):
        html = self.templates.get_template(template).render(county=self.county, **values)
        return Response(html, status=status, content_type=HTML,
                        headers={"Cache-Control": "no-store"})


class InspectionRoutes(RoutesBase):
    inspections = GuardedRpcProxy("inspections")
    identity = CallerIdentity()
    pages = PublicPages()

    # -- filing and reading (INS-1 … INS-5) --------------------------------------------------
    @route("POST", "/api/v1/inspections", roles=INSPECTION_FILERS, tags=TAGS, status=201,
           idempotent=True, body=InspectionCreate, response=Inspection,
           summary="File a visit before it is made (报备): approved, pending_approval or "
                   "rejected, with its entry code and every rule it breaks (INS-1 … INS-5)",
           description="`status` approved (green), pending_approval (red until the task "
                       "force's head approves: quiet days INS-2, the monthly cap INS-3) or "
                       "rejected (an item or inspector off the registers, INS-1); `violations` "
                       "name the rules by ID. Honours an `Idempotency-Key` header: the same key "
                       "from the same caller gives the same visit, filed once.")
    def file_inspection(self, request):
        caller = self.gate.enter(request)
        data = rpc_safe(load(InspectionCreate, read_json(request), caller=caller))
        data.update(idempotency(request))
        visit = self.inspections.file_inspection(data)
        return json_response(project(Inspection, visit), 201,
                             {"Location": f"/api/v1/inspections/{visit['id']}"})

    @route("GET", "/api/v1/inspections", roles=INSPECTION_READERS, tags=TAGS,
           query=InspectionQuery, response=InspectionPage,
           summary="The visits the caller may see, newest first (GW-2)",
           description="A department sees the visits it takes part in, an enterprise the "
                       "visits to it, the task force all.")
    def list_inspections(self, request):
        self.gate.enter(request)
        query = rpc_safe(load(InspectionQuery, query_args(request)))
        page = self.inspections.list_inspections(query)
        items = page["items"]
        return json_response({"items": [project(InspectionSummary, v) for v in items],
                              "next_cursor": page["next_cursor"]})

    @route("GET", "/api/v1/inspections/exceptions", roles=STAFF, tags=TAGS,
           query=ExceptionsQuery, response=InspectionPage,
           summary="Every emergency or exempted visit, for the task force: which are beyond "
                   "the department's monthly number, which await the head's review (INS-2/3/5)")
    def list_exceptions(self, request):
        self.gate.enter(request)
        query = rpc_safe(load(ExceptionsQuery, query_args(request)))
        page = self.inspections.list_exceptions(query)
        return json_response({"items": [project(InspectionSummary, v) for v in page["items"]],
                              "next_cursor": page["next_cursor"]})

    @route("GET", "/api/v1/inspections/joint-candidates", roles=STAFF, tags=TAGS,
           query=JointQuery, response=JointCandidates,
           summary="Enterprises visited by two or more departments in a month: visits to "
                   "merge into one joint visit (INS-7)")
    def joint_candidates(self, request):
        self.gate.enter(request)
        query = rpc_safe(load(JointQuery, query_args(request)))
        found = self.inspections.joint_candidates(query)
        return json_response(project(JointCandidates, {"month": query["month"], "items": found}))

    @route("POST", "/api/v1/inspections/joint", roles=STAFF, tags=TAGS, status=201,
           body=JointMerge, response=Inspection,
           summary="Merge visits of several departments to one enterprise into one joint "
                   "visit (进一次门, 查多项事, INS-7); it counts once toward the cap",
           description="The merged visits become `merged` (red, `merged_into`); the joint "
                       "visit is checked again as one visit.")
    def merge_joint(self, request):
        self.gate.enter(request)
        data = rpc_safe(load(JointMerge, read_json(request)))
        joint = self.inspections.merge_joint(data)
        return json_response(project(Inspection, joint), 201,
                             {"Location": f"/api/v1/inspections/{joint['id']}"})

    @route("GET", INSPECTION, roles=INSPECTION_READERS, tags=TAGS, response=Inspection,
           summary="One visit with its history; 404 when it is not the caller's (GW-2)")
    def get_inspection(self, request, inspection_id):
        self.gate.enter(request)
        visit = self.inspections.get_inspection(inspection_id)
        return json_response(project(Inspection, visit))

    @route("POST", INSPECTION + "/<action>", roles=INSPECTION_FILERS, tags=TAGS,
           response=Inspection, errors=(409,), summary="An action on a visit",
           variants={a: {"body": ACTION_BODIES[a], "summary": ACTION_SUMMARIES[a],
                         "roles": INSPECTION_ACTION_ROLES[a]} for a in ACTION_BODIES})
    def act_on_inspection(self, request, inspection_id, action):
        caller = self.gate.enter(request)
        if action not in ACTION_BODIES:
            raise NotFound(f"no such action; one of {', '.join(ACTION_BODIES)}")
        check_role(caller, INSPECTION_ACTION_ROLES[action], f"{action} an inspection")
        params = rpc_safe(load(ACTION_BODIES[action], read_json(request)))
        visit = self.inspections.act(inspection_id, action, params)
        return json_response(project(Inspection, visit))

    # -- the entry code (红绿码, INS-4) ------------------------------------------------------
    @route("GET", INSPECTION + "/entry-code.png", roles=INSPECTION_READERS, tags=TAGS,
           content={"image/png": "the QR code, green or red; `X-Entry-Code` says which"},
           summary="The entry code as a PNG: a QR code of the public verification page (INS-4)")
    def entry_code_png(self, request, inspection_id):
        return self._entry_code(request, inspection_id, "png")

    @route("GET", INSPECTION + "/entry-code.svg", roles=INSPECTION_READERS, tags=TAGS,
           content={"image/svg+xml": "the QR code, green or red; `X-Entry-Code` says which"},
           summary="The entry code as an SVG (INS-4)")
    def entry_code_svg(self, request, inspection_id):
        return self._entry_code(request, inspection_id, "svg")

    def _entry_code(self, request, inspection_id, fmt):
        self.gate.enter(request)
        code = self.inspections.entry_code(inspection_id, fmt)  # 404 when not the caller's
        # The colour follows the visit's state: never cache an old one.
        return Response(base64.b64decode(code["content_base64"]), content_type=code["content_type"],
                        headers={"Cache-Control": "no-store", "X-Entry-Code": code["entry_code"]})

    @route("GET", "/verify/<token>", roles=None, tags=TAGS,
           content={"text/html": "the verification page: green or red, for which enterprise, "
                                 "department, date and inspectors"},
           summary="What scanning an entry code opens (public): 200 with the page, or 404 "
                   "with the 'invalid code' page for a forged or altered token (INS-4)")
    def verify_page(self, request, token):
        self.gate.enter(request)
        view = self.inspections.verify_code(token) if _TOKEN_SHAPE.match(token) else None
        if not (view or {}).get("valid"):
            return self.pages.render("verify.html", status=404, v={"valid": False})
        return self.pages.render("verify.html", v=view)

    # -- double random, one public (双随机一公开, INS-6) ----------------------------------------
    @route("POST", "/api/v1/draws", roles=INSPECTION_FILERS, tags=TAGS, status=201,
           body=DrawCreate, response=Draw,
           summary="Draw targets from the directory and two inspectors each from the roster, "
                   "never one with a declared conflict (双随机, INS-6)",
           description="A department draws for itself, the task force names the department. "
                       "The seed is recorded: anyone can re-run the draw; the result is public "
                       "at `public_url`.")
    def create_draw(self, request):
        caller = self.gate.enter(request)
        data = rpc_safe(load(DrawCreate, read_json(request), caller=caller))
        drawn = self.inspections.draw(data)
        return json_response(project(Draw, drawn), 201, {"Location": f"/api/v1/draws/{drawn['id']}"})

    @route("GET", "/api/v1/draws/" + DRAW_ID, roles=ANY_CALLER, tags=TAGS, response=Draw,
           summary="A draw and what became of its targets (public facts, 一公开)")
    def get_draw(self, request, draw_id):
        self.gate.enter(request)
        return json_response(project(Draw, self.inspections.get_draw(draw_id)))

    @route("GET", "/api/v1/draws/" + DRAW_ID + "/replay", roles=None, tags=TAGS,
           response=DrawReplay,
           summary="Re-run a draw from its stored inputs (public, no credential): the "
                   "inputs' digest and the result must match what was recorded (INS-6)")
    def replay_draw(self, request, draw_id):
        self.gate.enter(request)
        return json_response(project(DrawReplay, self.inspections.replay_draw(draw_id)))

    @route("GET", "/draws", roles=None, tags=TAGS,
           content={"text/html": "every draw, newest first: each attempt is kept and shown"},
           summary="All draws, published (一公开; public): drawing again until the result "
                   "suits shows as a second attempt (INS-6)")
    def draws_page(self, request):
        self.gate.enter(request)
        draws = self.inspections.list_draws({"limit": 200})
        return self.pages.render("draws.html", draws=draws, names=self.pages.department_names)

    @route("GET", "/draws/" + DRAW_ID, roles=None, tags=TAGS,
           content={"text/html": "the public page of the draw's results"},
           summary="A draw's results, published (一公开; public)")
    def draw_page(self, request, draw_id):
        self.gate.enter(request)
        drawn = self.inspections.get_draw(draw_id)
        return self.pages.render("draw.html", d=drawn, names=self.pages.department_names)

    # -- the yearly plan (INS-9) and the directory --------------------------------------------
    @route("GET", "/api/v1/enterprises/<credit_code>/plan", roles=INSPECTION_READERS, tags=TAGS,
           query=PlanQuery, response=YearlyPlan,
           summary="The inspections and standards an enterprise faces this year (年度计划公开, "
                   "INS-9); an enterprise sees only its own")
    def yearly_plan(self, request, credit_code):
        self.gate.enter(request)
        try:
            credit_code = normalise_credit_code(credit_code)
        except ValidationError:
            raise NotFound("no such enterprise")
        query = load(PlanQuery, query_args(request))
        plan = self.inspections.yearly_plan(credit_code, query.get("year"))  # its own only
        return json_response(project(YearlyPlan, plan))

    @route("POST", "/api/v1/directory/import", roles=INSPECTION_FILERS, tags=TAGS,
           body=CSV_BODY, body_media=("text/csv",), response=ImportReport,
           summary="Import the enterprise directory from the market-regulation registry's CSV "
                   "export: each bad row reported by line and column, the rest loaded",
           description="The task force, or a department the service allows "
                       "(`INS_DIRECTORY_DEPARTMENTS`, default the market regulator). A re-import "
                       "updates by credit code, never duplicates. The body is limited by "
                       "GATEWAY_MAX_BODY_BYTES.")
    def import_directory(self, request):
        self.gate.enter(request)
        csv_text = _read_csv(request)
        try:
            report = self.inspections.import_directory(csv_text)
        except BadInput as exc:  # the service names its argument; over HTTP it is the body
            raise BadInput({"_body" if k == "csv_text" else k: v for k, v in exc.errors.items()})
        return json_response(project(ImportReport, report))


def _read_csv(request):
    """The body as CSV text: ``text/csv`` (or text/plain), UTF-8."""
    if request.mimetype not in _CSV_MEDIA:
        raise MalformedRequest("send the directory as text/csv",
                               {"Content-Type": ["expected text/csv"]})
    charset = (request.mimetype_params.get("charset") or "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise MalformedRequest("the directory must be UTF-8",
                               {"Content-Type": ["expected charset=utf-8"]})
    try:
        raw = request.get_data(cache=True)
    except HTTPException as exc:
        if exc.code == 413:
            raise PayloadTooLarge("request body too large")
        raise MalformedRequest("the request body could not be read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("the CSV is not UTF-8; export it as UTF-8",
                               {"_body": ["not UTF-8"]})
    if not text.strip("\ufeff \r\n\t"):
        raise BadInput({"_body": ["the CSV file is empty"]})
    if "\x00" in text:
        raise BadInput({"_body": ["must not contain NUL characters"]})
    return text
