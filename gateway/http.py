"""HTTP plumbing of the gateway on nameko's ``@http``.

- ``route(method, url, roles=…, summary=…, body=…, query=…, response=…)``:
  a nameko HTTP entrypoint that also carries what the OpenAPI document and
  the access check need (one declaration, no second list to keep in step).
  Its worker gets the request id in its context; whatever it raises becomes
  a problem response (``problems.py``), never nameko's plain-text 500.
- ``GatewayWebServer``: nameko's web server with a WSGI layer that accepts or
  makes the ``X-Request-ID``, answers CORS pre-flights, caps body size, turns
  unknown routes and wrong methods into problems, adds the CORS and request
  id headers to every answer and writes one access log line (path only: a
  query string may hold an Open311 ``api_key``).
"""
import functools
import itertools
import json
import logging
import re
import time
import uuid

from eventlet.event import Event
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp, parse_address
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from kernel.config import setting
from kernel.errors import Forbidden
from kernel.metrics import Metrics
from kernel.rpc import CLIENT_ERRORS

from .problems import MalformedRequest, PayloadTooLarge, TooManyRequests, problem_response

_log = logging.getLogger("gateway.access")

REQUEST_ID = "qinqing.request_id"
ROUTE = "qinqing.route"
_REQUEST_ID_SHAPE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# <converter(args):name> in a werkzeug rule
RULE_PARAM = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")
_order = itertools.count()
# A path prefix → how a refusal on it is written when no route matched
# (Open311 answers its errors in its own format, even for an unknown path).
PREFIX_RENDERERS = {}
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

EXPECTED = CLIENT_ERRORS + (MalformedRequest, TooManyRequests, PayloadTooLarge, HTTPException)
CORS_ALLOW_HEADERS = "Authorization, Content-Type, X-API-Key, X-Request-ID, Idempotency-Key"
CORS_EXPOSE_HEADERS = "X-Request-ID, Retry-After, Location, Content-Disposition, X-Entry-Code"


class GatewayWebServer(WebServer):
    """Binds ``WEB_SERVER_ADDRESS``, else ``0.0.0.0:$GATEWAY_PORT`` (8000)."""

    @property
    def bind_addr(self):
        config = self.container.config
        address = config.get("WEB_SERVER_ADDRESS") or \
            f"0.0.0.0:{setting(config, 'GATEWAY_PORT', 8000)}"
        return parse_address(str(address))

    def get_wsgi_app(self):
        return GatewayWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=HttpOnlyProtocol, debug=False):
        server = super().get_wsgi_server(sock, wsgi_app, protocol=protocol, debug=debug)
        server.log_output = False  # our access line replaces eventlet's (it logs query strings)
        return server


class Route(HttpRequestHandler):
    server = GatewayWebServer()

    def __init__(self, method, url, roles=None, summary="", description="", tags=(),
                 body=None, body_media=("application/json",), query=None, response=None,
                 response_many=False, response_media=("application/json",), status=200,
                 content=None, variants=None, errors=(), idempotent=False, renderer=None,
                 order=None, example=None, **kwargs):
        kwargs.setdefault("expected_exceptions", EXPECTED)
        # Who may call: a tuple of roles, or None for a public route.
        self.roles = roles
        # The rest describes the route for the OpenAPI document and /docs.
        self.summary, self.description, self.tags = summary, description, tuple(tags)
        self.body, self.body_media, self.query = body, tuple(body_media), query
        self.response, self.response_many = response, response_many
        self.response_media, self.status = tuple(response_media), status
        self.content = content  # a non-JSON success body: {media type: description}
        self.variants = variants  # one documented operation per value of the last path part
        self.errors = tuple(errors)  # error statuses worth naming beyond the usual ones
        self.idempotent = idempotent  # honours an Idempotency-Key header
        self.example = example  # a request body to show, when its fields' examples are not enough
        self.renderer = renderer or problem_response  # how a refusal is written
        self.order = order
        super().__init__(method, url, **kwargs)

    def handle_request(self, request):
        request.shallow = False
        request_id = request.environ.get(REQUEST_ID)
        try:
            args, kwargs = self.get_entrypoint_parameters(request)
            self.check_signature(args, kwargs)
            event = Event()
            self.container.spawn_worker(
                self, args, kwargs, context_data={"request_id": request_id},
                handle_result=functools.partial(self.handle_result, event))
            return self.response_from_result(event.wait())
        except Exception as exc:  # every refusal is a problem, never a bare 500
            return self.renderer(exc, request_id, request)


def path_template(url):
    """``/api/v1/appeals/<int(…):appeal_id>`` → ``/api/v1/appeals/{appeal_id}``."""
    return RULE_PARAM.sub(lambda m: "{%s}" % m.group(3), url)


def route(method, url, **meta):
    """Declare an HTTP route of the gateway (see ``Route``).

    A refusal a client caused (bad input, no credential, not found …) is
    answered inside the worker, so it is one access line in the log, not a
    traceback per request; anything else still propagates and is logged as
    the fault it is.
    """
    meta.setdefault("order", next(_order))
    register = Route.decorator(method, url, **meta)
    renderer = meta.get("renderer") or problem_response

    def decorate(fn):
        @functools.wraps(fn)
        def answer(self, request, *args, **kwargs):
            try:
                return fn(self, request, *args, **kwargs)
            except EXPECTED as exc:
                return renderer(exc, request.environ.get(REQUEST_ID), request)
        return register(answer)

    return decorate


# -- request and response helpers used by the routes ---------------------------------

def json_response(data, status=200, headers=None):
    return Response(json.dumps(data, ensure_ascii=False), status=status, headers=headers,
                    content_type="application/json; charset=utf-8")


def read_json(request):
    """The request body as a JSON object ({} when empty); 400 when unreadable."""
    try:
        raw = request.get_data(cache=True)
    except HTTPException as exc:
        if exc.code == 413:
            raise PayloadTooLarge("request body too large")
        raise MalformedRequest("the request body could not be read")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedRequest("the request body is not valid JSON",
                               {"_body": [_json_problem(exc)]})
    if not isinstance(data, dict):
        raise MalformedRequest("the request body must be a JSON object",
                               {"_body": ["expected a JSON object"]})
    # "\ud800" is valid JSON but no text: kernel.schemas.load refuses it with a 422
    # naming the field, as it refuses control characters (kernel.validators)
    return data


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def _json_problem(exc):
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)[:200]


def query_args(request):
    """Query parameters as a plain dict (a repeated parameter keeps its first value)."""
    return request.args.to_dict(flat=True)


# -- the WSGI layer ---------------------------------------------------------------

class GatewayWsgiApp(WsgiApp):

    def __init__(self, server):
        super().__init__(server)
        config = server.container.config
        self.cors_origins = _origins(setting(config, "GATEWAY_CORS_ORIGINS"))
        self.max_body = int(setting(config, "GATEWAY_MAX_BODY_BYTES", 1_048_576))
        self._responses = None

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        request_id = _request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[REQUEST_ID] = request_id
        request = Request(environ, shallow=True)
        request.max_content_length = self.max_body
        origin = environ.get("HTTP_ORIGIN")
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            response = self.preflight(origin, request_id)
        else:
            response = self.dispatch(request, environ, request_id)
        response.headers["X-Request-ID"] = request_id
        self.count(request.method, environ.get(ROUTE, "unmatched"), response.status_code)
        if origin and self.allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
            response.vary.add("Origin")
        _log.info("%s %s %s %.1fms", request.method, request.path, response.status_code,
                  (time.perf_counter() - started) * 1000, extra={"request_id": request_id})
        return response(environ, start_response)

    def dispatch(self, request, environ, request_id):
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
        except HTTPException as exc:
            if exc.code is not None and exc.code < 400:  # e.g. a trailing-slash redirect
                return exc.get_response(environ)
            renderer = next((r for prefix, r in PREFIX_RENDERERS.items()
                             if request.path.startswith(prefix)), problem_response)
            return renderer(exc, request_id, request)
        if request.content_length is not None and request.content_length > self.max_body:
            return provider.renderer(PayloadTooLarge("request body too large"), request_id, request)
        request.path_values = values
        environ[ROUTE] = path_template(provider.url)
        try:
            return provider.handle_request(request)
        except Exception as exc:  # the entrypoint answers everything; this is the last net
            _log.exception("unhandled error in %s %s", request.method, request.path)
            return problem_response(exc, request_id)

    def count(self, method, route, status):
        """Answers per route and status (/metrics), in the container's registry."""
        if self._responses is None:
            metrics = next(d for d in self.server.container.dependencies if isinstance(d, Metrics))
            self._responses = metrics.counter("qinqing_gateway_responses", "HTTP answers",
                                              ["method", "route", "status"])
        method = method if method in _METHODS else "other"  # a client picks the method
        self._responses.labels(method, route, str(status)).inc()

    def allowed(self, origin):
        return "*" in self.cors_origins or origin in self.cors_origins

    def preflight(self, origin, request_id):
        """CORS pre-flight for the task force's pages (GATEWAY_CORS_ORIGINS)."""
        if not origin or not self.allowed(origin):
            return problem_response(Forbidden("origin not allowed"), request_id)
        return Response(status=204, headers={
            "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
        })


def _origins(value):
    """A YAML list, a JSON list or a comma-separated string of origins."""
    if not value:
        return set()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = value.split(",")
    return {o.strip().rstrip("/") for o in value if isinstance(o, str) and o.strip()}


def _request_id(given):
    """The caller's X-Request-ID when it is a sane token, else a fresh one."""
    if given and _REQUEST_ID_SHAPE.match(given):
        return given
    return uuid.uuid4().hex
