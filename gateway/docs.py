"""The /docs page: the OpenAPI document rendered on the server with Jinja2.

No script and no CDN: a department's network may have no internet access, so
the page is plain HTML with its CSS inline, readable as it comes.
"""
import functools
import html
import json
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from . import openapi
from .problems import SLUGS

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def _inline(text):
    """`code` and **bold** in the document's descriptions, everything else escaped."""
    out = html.escape(text or "")
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    return Markup(out)


_env.filters["inline"] = _inline
_WHO = re.compile(r"\s*(Roles: [^.]*\.|Public: no credential needed\.)$")

PROBLEMS = [
    (400, "The body could not be read: broken JSON, not UTF-8, or not an object."),
    (401, "No credential, or a bad, expired, forged or revoked one. Comes with "
          "<code>WWW-Authenticate: Bearer</code>."),
    (403, "The caller's role may never call this route (it does not depend on the id asked for)."),
    (404, "No such thing, or not the caller's: the gateway never reveals that another "
          "enterprise's or department's appeal exists."),
    (405, "The route exists but not with this method; <code>Allow</code> lists the methods."),
    (409, "The appeal's state refuses the action (e.g. reply before accept); nothing changed. "
          "<code>conflict</code> says the current status and where the action is allowed from."),
    (413, "The body is larger than GATEWAY_MAX_BODY_BYTES (1 MiB by default)."),
    (422, "Bad input; <code>errors</code> maps every offending field to its messages; nothing "
          "changed."),
    (429, "Over the credential's rate limit; retry after <code>Retry-After</code> seconds."),
    (500, "A fault in the gateway itself; report the X-Request-ID."),
    (502, "A service failed while handling the request; report the X-Request-ID."),
    (503, "A service or the broker is not available; retry later."),
    (504, "A service did not answer in time; retry (creating with an Idempotency-Key is safe to "
          "retry)."),
]


@functools.lru_cache(maxsize=8)
def page(service_cls):
    spec = openapi.document(service_cls)
    schemas = spec["components"]["schemas"]
    groups = {}
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            groups.setdefault(op["tags"][0], []).append(_view(path, method, op, schemas))
    tags = [t for t in spec["tags"] if t["name"] in groups]
    problems = [{"status": s, "slug": SLUGS[s], "text": Markup(t)} for s, t in PROBLEMS]
    models = [{"name": name, "fields": _fields({"$ref": f"#/components/schemas/{name}"}, schemas)}
              for name in sorted(schemas)]
    return _env.get_template("docs.html").render(
        spec=spec, tags=tags, groups=groups, problems=problems, models=models)


def _view(path, method, op, schemas):
    parameters = [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                   "type": _type(p.get("schema", {}), schemas),
                   "description": p.get("description") or p.get("schema", {}).get("description", "")}
                  for p in op.get("parameters", [])]
    body = None
    if "requestBody" in op:
        media, content = next(iter(op["requestBody"]["content"].items()))
        body = {"media": media, "fields": _fields(content["schema"], schemas)}
    responses = []
    for status, response in op["responses"].items():
        if "$ref" in response:
            name = response["$ref"].rsplit("/", 1)[-1]
            responses.append({"status": status, "text": name, "slug": SLUGS.get(
                int(status) if status.isdigit() else 0, "")})
            continue
        schema = next(iter(response.get("content", {}).values()), {}).get("schema")
        responses.append({"status": status, "slug": "",
                          "text": response["description"] + (f" — {_type(schema, schemas)}"
                                                             if schema else "")})
    # who may call is shown on its own line; the document repeats it in prose
    description = _WHO.sub("", op.get("description", ""))
    return {"id": op["operationId"], "method": method.upper(), "path": path,
            "summary": op.get("summary", ""), "description": description,
            "public": op.get("security") == [],
            "roles": op.get("x-roles"), "parameters": parameters, "body": body,
            "responses": responses, "curl": _curl(path, method, op, body, schemas)}


def _resolve(schema, schemas):
    if isinstance(schema, dict) and "$ref" in schema:
        return schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return schema or {}


def _type(schema, schemas):
    if not schema:
        return ""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return Markup(f'<a href="#schema-{html.escape(name)}">{html.escape(name)}</a>')
    if schema.get("type") == "array":
        return _type(schema.get("items", {}), schemas) + "[]"
    kind = schema.get("type", "object")
    if schema.get("enum"):
        kind += " (" + " | ".join(str(e) for e in schema["enum"]) + ")"
    elif schema.get("format"):
        kind += f" ({schema['format']})"
    return kind


def _fields(schema, schemas):
    resolved = _resolve(schema, schemas)
    required = set(resolved.get("required", []))
    return [{"name": name, "type": _type(prop, schemas), "required": name in required,
             "description": prop.get("description", ""),
             "example": json.dumps(prop["example"], ensure_ascii=False) if "example" in prop else ""}
            for name, prop in resolved.get("properties", {}).items()
            if not prop.get("readOnly")]


def _example_body(schema, schemas):
    resolved = _resolve(schema, schemas)
    required = set(resolved.get("required", []))
    return {name: prop["example"] for name, prop in resolved.get("properties", {}).items()
            if "example" in prop and (name in required or len(required) == 0)}


def _curl(path, method, op, body, schemas):
    url = re.sub(r"\{(\w+)\}", lambda m: {"appeal_id": "1", "fmt": "json",
                                           "key_id": "0123456789ab", "service_request_id": "1",
                                           "inspection_id": "1", "draw_id": "1",
                                           "credit_code": "91433126MA4L00060G",
                                           "token": "<token>"}.get(m.group(1), "permit"),
                 path)
    lines = [f'curl -X {method.upper()} "$GW{url}"' if method != "get" else f'curl "$GW{url}"']
    if op.get("security"):
        lines.append('-H "Authorization: Bearer $TOKEN"')
    if body is not None:
        example = _example_body(op["requestBody"]["content"][body["media"]]["schema"], schemas)
        if body["media"] == "application/json":
            lines.append('-H "Content-Type: application/json"')
            lines.append("-d '" + json.dumps(example, ensure_ascii=False) + "'")
        else:
            lines += [f"--data-urlencode '{k}={v}'" for k, v in example.items()]
    return " \\\n     ".join(lines)
