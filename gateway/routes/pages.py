"""The task force's pages (优化专班页面): static HTML, JS and CSS under
``gateway/static/``, plus Apache ECharts from ``web/node_modules`` (installed by
``npm ci`` from ``web/package-lock.json``; never copied into the repository).

The pages use only the public API from the browser, with the JWT the user
pasted (kept in sessionStorage) in the Authorization header, so the service
decides who sees what (GW-2) exactly as for any other client. The one thing
served here that is not a file: ``POST /ui/dev-token``, which mints a
development token — it exists only when the gateway runs with GATEWAY_DEV=1
and no real secret (404 otherwise, like any unknown route).
"""
import mimetypes
from pathlib import Path

from marshmallow import fields, validate
from werkzeug.exceptions import NotFound as HttpNotFound
from werkzeug.wrappers import Response

from kernel.config import ROOT, CountyProfile
from kernel.errors import BadInput, NotFound
from kernel.schemas import StrictInput

from ..access import DEPARTMENT, ENTERPRISE, TOKEN_ROLES
from ..credentials import DEV_JWT_SECRET, MAX_SUB, jwt_secret
from ..http import json_response, read_json, route
from ..schemas import load
from ..token import mint
from .base import RoutesBase

STATIC = Path(__file__).resolve().parent.parent / "static"
ECHARTS = ROOT / "web" / "node_modules" / "echarts" / "dist" / "echarts.min.js"
TAGS = ("pages",)
# page name → its HTML file; /ui/<page>
PAGES = {"signin": "signin.html", "ledger": "ledger.html", "appeal": "appeal.html",
         "calendar": "calendar.html", "rankings": "rankings.html", "live": "live.html",
         "ops": "ops.html", "dev-signin": "dev-signin.html"}
ASSET = "<any('app.js', 'app.css', 'ledger.js', 'appeal.js', 'calendar.js', 'rankings.js', " \
        "'live.js', 'ops.js', 'signin.js'):name>"


class DevTokenIn(StrictInput):
    role = fields.String(required=True, validate=validate.OneOf(TOKEN_ROLES))
    org = fields.String(load_default="", validate=validate.Length(max=32))
    sub = fields.String(load_default=None, validate=validate.Length(1, MAX_SUB))
    scope = fields.String(load_default="", validate=validate.Length(max=200))


def _file(path, content_type=None, cache="no-cache"):
    if not path.is_file():
        raise NotFound("no such page")
    content_type = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith("javascript"):
        content_type += "; charset=utf-8"
    return Response(path.read_bytes(), content_type=content_type,
                    headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})


class PageRoutes(RoutesBase):

    def _dev_mode(self):
        """Development sign-in only with the documented development secret in use."""
        return jwt_secret(self.gate.config) == DEV_JWT_SECRET

    @route("GET", "/ui", roles=None, tags=TAGS, content={"text/html": "the ledger"},
           summary="The task force's pages: start at the ledger (sign-in when needed)")
    def pages_home(self, request):
        self.gate.enter(request)
        return Response(status=302, headers={"Location": "/ui/ledger"})

    @route("GET", "/ui/<any(" + ", ".join(f"'{p}'" for p in PAGES) + "):page>", roles=None,
           tags=TAGS, content={"text/html": "a page"},
           summary="A page of the task force's: signin, ledger, appeal, calendar, rankings, "
                   "live, ops (and dev-signin in development mode)")
    def page(self, request, page):
        self.gate.enter(request)
        if page == "dev-signin" and not self._dev_mode():
            raise HttpNotFound()
        return _file(STATIC / PAGES[page], "text/html")

    @route("GET", f"/ui/static/{ASSET}", roles=None, tags=TAGS,
           content={"text/javascript": "script", "text/css": "style"},
           summary="The pages' scripts and style")
    def page_asset(self, request, name):
        self.gate.enter(request)
        return _file(STATIC / name)

    @route("GET", "/ui/vendor/echarts.min.js", roles=None, tags=TAGS,
           content={"text/javascript": "Apache ECharts"},
           errors=(404,),  # until `make web` has installed it (web/package-lock.json)
           summary="Apache ECharts, as installed from the npm registry by `npm ci`")
    def echarts(self, request):
        self.gate.enter(request)
        if not ECHARTS.is_file():
            raise NotFound("ECharts is not installed: run `make web` (npm ci)")
        return _file(ECHARTS, "text/javascript", cache="public, max-age=86400")

    @route("POST", "/ui/dev-token", roles=None, tags=TAGS, body=DevTokenIn,
           errors=(404,),  # outside development mode it does not exist
           example={"role": "taskforce", "org": "taskforce", "sub": "tf-1"},
           summary="Development mode only (GATEWAY_DEV=1, no secret): mint a token with the "
                   "documented development secret; 404 otherwise")
    def dev_token(self, request):
        self.gate.enter(request)
        if not self._dev_mode():
            raise HttpNotFound()
        data = load(DevTokenIn, read_json(request))
        profile = CountyProfile.from_config(self.gate.config)
        if data["role"] == DEPARTMENT and data["org"] not in profile.departments:
            raise BadInput({"org": ["not a department of this county"]})
        if data["role"] == ENTERPRISE and not data["org"]:
            raise BadInput({"org": ["an enterprise's credit code is required"]})
        token = mint(DEV_JWT_SECRET, data["role"], data["org"], data["sub"], 8 * 3600,
                     scope=data["scope"])
        return json_response({"token": token})
