"""The OpenAPI 3 document, generated from the routes' declarations (GW-1).

Each ``@route`` names its schemas (body, query, response) and who may call
it; this module walks the service class's routes and hands those same
marshmallow schemas to apispec. Nothing is written twice, so the document
cannot drift from what the gateway validates.
"""
import functools
import inspect
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls

from .glossary import describe_missing
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


class ComponentNames:
    """One component name per schema class, never two classes under one name
    (a generator makes one model per name). A class is named after itself
    (``AppealOut``); when another class already holds that name, it is
    qualified by its home (``AppealsAttachment`` for ``services.appeals.schemas``,
    ``Open311Error`` for ``gateway.schemas.open311``). A schema narrowed with
    ``only``/``exclude`` is written inline, where it is used."""

    def __init__(self):
        self.taken = {}  # name → class

    def __call__(self, schema):
        if not isinstance(schema, type) and (schema.only or schema.exclude):
            return None
        cls = resolve_schema_cls(schema)
        if isinstance(cls, list):
            cls = cls[0]
        base = cls.__name__.removesuffix("Schema") or cls.__name__
        for name in (base, _home(cls) + base):
            if self.taken.setdefault(name, cls) is cls:
                return name
        raise ValueError(f"two schemas are both called {base} in {cls.__module__}")


def _home(cls):
    """``services.appeals.schemas`` → ``Appeals``; ``gateway.schemas.open311`` → ``Open311``."""
    parts = [p for p in cls.__module__.split(".") if p not in ("schemas", "services", "gateway")]
    return "".join(p[:1].upper() + p[1:] for p in parts[-1:]) or "Qinqing"


@functools.lru_cache(maxsize=8)
def document(service_cls, server_url="/"):
    names = ComponentNames()
    names.taken.update({"Problem": Problem, "Open311Error": Open311Error})
    spec = APISpec(title=TITLE, version=VERSION, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=names)],
                   info={"description": DESCRIPTION},
                   servers=[{"url": server_url, "description": "the gateway that serves this "
                                                              "document"}])
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
                      ("notify", "通知: the inbox, webhooks, deliveries, pushes to enterprises"),
                      ("reference", "codes for forms"),
                      ("routing", "精准交办: the routing table — category × town → departments"),
                      ("rectification", "整改清单: an evaluation's findings, ticked off with "
                                        "evidence"),
                      ("api keys", "credentials for department systems and channels"),
                      ("open311", "Open311 GeoReport v2"),
                      ("audit", "who wrote what, when (append-only)"),
                      ("operations", "probes (metrics are on the admin port)"),
                      ("pages", "优化专班页面: the task force's pages (static; their data comes from this API)"),
                      ("documentation", "this document")):
        spec.tag({"name": tag, "description": text})

    paths = {}
    for name, route in routes(service_cls):
        for path, method, operation in _operations(name, route):
            paths.setdefault(path, {})[method] = operation
    ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    if len(ids) != len(set(ids)):
        raise ValueError(f"operationIds used twice: {sorted({i for i in ids if ids.count(i) > 1})}")
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    out = spec.to_dict()
    _no_generated_name_clashes(out["components"]["schemas"])
    for name, schema in out["components"]["schemas"].items():
        cls = names.taken.get(name)
        if "description" not in schema and cls is not None and cls.__doc__:
            schema["description"] = " ".join(cls.__doc__.split("\n\n")[0].split())
    describe_missing(out)
    _body_examples(out)
    return out


def _body_examples(spec):
    """Every JSON or form body gets an example: the route's own, else one made
    of its fields' examples."""
    schemas = spec["components"]["schemas"]
    for operations in spec["paths"].values():
        for operation in operations.values():
            for media in (operation.get("requestBody") or {}).get("content", {}).values():
                schema = media.get("schema") or {}
                if "$ref" in schema:
                    schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
                made = {k: p["example"] for k, p in (schema.get("properties") or {}).items()
                        if "example" in p}
                if "example" not in media and made:
                    media["example"] = made


def _pascal(name):
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)


def _no_generated_name_clashes(schemas):
    """A generator names the model of an inline object property after its parent
    and itself (``Draw.filters`` → ``DrawFilters``); when a component already has
    that name, the inline object gets a ``title`` that makes its model's name
    distinct (``DrawFiltersMap`` for a free-form map, ``…Object`` otherwise)."""
    for parent, schema in schemas.items():
        for prop, sub in (schema.get("properties") or {}).items():
            if sub.get("type") != "object" or "$ref" in sub or "title" in sub:
                continue
            if _pascal(parent) + _pascal(prop) in schemas:
                kind = "Object" if sub.get("properties") else "Map"
                sub["title"] = _pascal(prop) + kind


def _operations(name, route):
    path, params = _path(route.url)
    methods = [m.lower() for m in route.method.split(",")]
    if route.variants:
        variable = params.pop()  # the last path part names the variant
        for value, variant in route.variants.items():
            concrete = path.replace("{%s}" % variable["name"], value)
            for method in methods:
                operation_id = re.sub(r"\W", "_", f"{name}_{value}")  # after-filing → after_filing
                yield concrete, method, _operation(
                    operation_id, route, params, body=variant.get("body"),
                    summary=variant.get("summary", route.summary),
                    roles=variant.get("roles", route.roles), example=variant.get("example"))
        return
    for method in methods:
        yield path, method, _operation(name, route, params, body=route.body,
                                       summary=route.summary, roles=route.roles,
                                       example=route.example)


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


def _operation(operation_id, route, path_params, body, summary, roles, example=None):
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
        if example is not None:
            for media in op["requestBody"]["content"].values():
                media["example"] = example
    op["responses"][str(route.status)] = _success(route)
    op["responses"].update(_errors(route, body, roles, open311))
    return op


def _success(route):
    if route.status == 204:
        return {"description": "done; no body"}
    content, text = {}, []
    if route.response is not None:
        schema = {"type": "array", "items": route.response} if route.response_many else route.response
        content.update({m: {"schema": schema} for m in route.response_media})
        text.append("done")
    if route.content:
        content.update({m: {} if m == "text/event-stream"  # events, each described in words
                        else {"schema": {"type": "string"} if m.startswith(("text/", "application/json"))
                              else {"type": "string", "format": "binary"}}
                        for m in route.content})
        text.extend(route.content.values())
    if not content:
        return {"description": "done"}
    return {"description": "; ".join(text), "content": content}


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
