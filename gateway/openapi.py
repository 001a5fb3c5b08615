"""The OpenAPI 3 document, generated from the routes' declarations (GW-1).

Each ``@route`` names its schemas (body, query, response) and who may call
it; this module walks the service class's routes and hands those same
marshmallow schemas to apispec. Nothing is written twice, so the document
cannot drift from what the gateway validates.
"""
import functools
import inspect

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from .http import RULE_PARAM, Route
from .problems import PROBLEM_JSON
from .schemas import Problem
from .schemas.open311 import Error as Open311Error

TITLE = "Qinqing (亲清) API"
VERSION = "1.0.0"  # contract v1: department systems code against it; change only by adding

DESCRIPTION = """\
One HTTP API for the county's business-environment programme (优化营商环境): mobile
clients, department systems and the task force's pages.

**Credentials**: `Authorization: Bearer <JWT>` (claims `sub`, `role` = enterprise |
department | taskforce | admin, `org`, `exp`) or `X-API-Key: qq_…` (a key an admin made,
bound to a department or a channel). **Errors** are `application/problem+json`.
**Rate limits** are per credential and per gateway instance: 429 with `Retry-After`.
Every answer carries `X-Request-ID` (yours, or a new one).
"""

_PROBLEMS = {
    "MalformedRequest": (400, "The body is not a JSON object (broken JSON, not UTF-8)"),
    "Unauthorized": (401, "No credential, or a bad, expired or revoked one"),
    "Forbidden": (403, "This role may never call this route"),
    "NotFound": (404, "No such thing — or not the caller's: the two look the same"),
    "Conflict": (409, "The state (of the appeal, the visit) refuses this action; nothing changed"),
    "PayloadTooLarge": (413, "The body is larger than the gateway accepts"),
    "InvalidInput": (422, "Bad input; `errors` names every offending field; nothing changed"),
    "TooManyRequests": (429, "Over the caller's rate limit; retry after `Retry-After` seconds"),
    "ServiceUnavailable": (503, "A service or the broker is not available"),
    "GatewayTimeout": (504, "A service did not answer in time"),
}


def routes(service_cls):
    """``(method name, Route)`` of every route of the class: module by module in
    the order of the class's bases, each in declaration order."""
    mro = service_cls.__mro__
    found = []
    for name, member in inspect.getmembers(service_cls, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, Route):
                home = next(i for i, klass in enumerate(mro) if name in vars(klass))
                found.append(((home, entrypoint.order), name, entrypoint))
    return [(name, entrypoint) for _, name, entrypoint in sorted(found, key=lambda r: r[0])]


@functools.lru_cache(maxsize=8)
def document(service_cls):
    spec = APISpec(title=TITLE, version=VERSION, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()], info={"description": DESCRIPTION})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"})
    spec.components.security_scheme("apiKey", {"type": "apiKey", "in": "header",
                                               "name": "X-API-Key"})
    spec.components.security_scheme("open311ApiKey", {"type": "apiKey", "in": "query",
                                                      "name": "api_key"})
    spec.components.schema("Problem", schema=Problem)
    spec.components.schema("Open311Error", schema=Open311Error)
    for name, (status, description) in _PROBLEMS.items():
        response = {"description": description,
                    "content": {PROBLEM_JSON: {"schema": "Problem"}}}
        if status == 429:
            response["headers"] = {"Retry-After": {
                "description": "seconds", "schema": {"type": "integer", "minimum": 1}}}
        spec.components.response(name, response)
    spec.components.response("Open311Errors", {
        "description": "The spec's error list (400 bad input, 403 api_key, 404 not found, "
                       "429 rate limit)",
        "content": {m: {"schema": {"type": "array", "items": "Open311Error"}}
                    for m in ("application/json", "text/xml")}})
    for tag, text in (("appeals", "诉求: the ledger and the closed loop"),
                      ("inspections", "入企检查: filing, the head's decision, the entry code, "
                                      "draws, joint visits, the yearly plan, the directory"),
                      ("scoring", "评价: ratings and their follow-up, cards, rankings, the live "
                                  "session, the monthly notice"),
                      ("reference", "codes for forms"),
                      ("api keys", "credentials for department systems and channels"),
                      ("open311", "Open311 GeoReport v2"),
                      ("operations", "probes and metrics"),
                      ("pages", "优化专班页面: the task force's pages (static; their data comes from this API)"),
                      ("documentation", "this document")):
        spec.tag({"name": tag, "description": text})

    paths = {}
    for name, route in routes(service_cls):
        for path, method, operation in _operations(name, route):
            paths.setdefault(path, {})[method] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operations(name, route):
    path, params = _path(route.url)
    methods = [m.lower() for m in route.method.split(",")]
    if route.variants:
        variable = params.pop()  # the last path part names the variant
        for value, variant in route.variants.items():
            concrete = path.replace("{%s}" % variable["name"], value)
            for method in methods:
                yield concrete, method, _operation(
                    f"{name}_{value}", route, params, body=variant.get("body"),
                    summary=variant.get("summary", route.summary),
                    roles=variant.get("roles", route.roles))
        return
    for method in methods:
        yield path, method, _operation(name, route, params, body=route.body,
                                       summary=route.summary, roles=route.roles)


def _path(url):
    """A werkzeug rule as an OpenAPI path, with its path parameters."""
    params = []

    def replace(match):
        converter, args, variable = match.groups()
        schema = {"type": "string"}
        if converter == "int":
            schema = {"type": "integer", "format": "int64", "minimum": 1}
        elif converter == "any":
            schema = {"type": "string", "enum": [a.strip() for a in args.split(",")]}
        params.append({"in": "path", "name": variable, "required": True, "schema": schema})
        return "{%s}" % variable

    return RULE_PARAM.sub(replace, url), params


def _operation(operation_id, route, path_params, body, summary, roles):
    open311 = "open311" in route.tags
    op = {"operationId": operation_id, "summary": summary, "tags": list(route.tags),
          "parameters": list(path_params), "responses": {}}
    text = [route.description] if route.description else []
    if roles is None:
        op["security"] = []
        text.append("Public: no credential needed.")
    else:
        op["x-roles"] = list(roles)
        text.append("Roles: " + ", ".join(roles) + ".")
        op["security"] = [{"bearer": []}, {"apiKey": []}] + ([{"open311ApiKey": []}] if open311 else [])
    op["description"] = " ".join(text)
    if route.query is not None:
        op["parameters"].append({"in": "query", "schema": route.query})
    if route.idempotent:
        op["parameters"].append({
            "in": "header", "name": "Idempotency-Key", "required": False,
            "description": "1–100 printable ASCII characters; the same key from the same caller "
                           "gives the same answer, made once",
            "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,100}$"}})
    if body is not None:
        op["requestBody"] = {"required": True,
                             "content": {m: {"schema": body} for m in route.body_media}}
    op["responses"][str(route.status)] = _success(route)
    op["responses"].update(_errors(route, body, roles, open311))
    return op


def _success(route):
    if route.status == 204:
        return {"description": "done; no body"}
    if route.content:
        return {"description": "; ".join(route.content.values()),
                "content": {m: {"schema": {"type": "string"} if m.startswith(("text/", "application/json"))
                                else {"type": "string", "format": "binary"}}
                            for m in route.content}}
    if route.response is None:
        return {"description": "done"}
    schema = {"type": "array", "items": route.response} if route.response_many else route.response
    return {"description": "done", "content": {m: {"schema": schema} for m in route.response_media}}


def _errors(route, body, roles, open311):
    if open311:
        return {"4XX": {"$ref": "#/components/responses/Open311Errors"}}
    codes = set(route.errors)
    if body is not None:
        codes |= {400, 413, 422}
    if route.query is not None:
        codes.add(422)
    if "<" in route.url:
        codes.add(404)
    if roles is not None:
        codes |= {401, 403, 503, 504}
    if roles is not None or "operations" not in route.tags:  # probes are not rate limited
        codes.add(429)
    by_status = {status: name for name, (status, _) in _PROBLEMS.items()}
    return {str(c): {"$ref": f"#/components/responses/{by_status[c]}"}
            for c in sorted(codes) if c in by_status}
