"""The access matrix, generated from the gateway's own OpenAPI document
(issue 13): every route × every role (enterprise, department, channel key, task
force, no credential) × own object / another tenant's / another department's →
the documented status, nothing of another's in any answer, never a 5xx.

Objects are four appeals, each with a marker in its title; each role has the
markers it must never see. Another's object must answer exactly as an object
that does not exist (no existence oracle). Inspection and draw ids are ones
that do not exist (the access rules for existing inspections are proved in
test_gateway_inspections). Real gateway over HTTP, real services, broker and
database; one pass over ~500 requests."""
import pytest

from services.inspections.service import InspectionsService
from services.notify.service import NotifyService
from services.scoring.service import ScoringService
from tests.conftest import ENTERPRISE_A, ENTERPRISE_B
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    appeal_body, bearer, make_key, stack)

pytestmark = [pytest.mark.integration, pytest.mark.db_independent]

MISSING = 987654  # an id no object has
MARKS = {name: f"MATRIX-{name}-7f3a" for name in "ABCD"}
# Which appeals each caller may see (A: ent_a permit → approval leads, market
# co-handles; B: ent_b permit; C: ent_b tax → the tax bureau; D: through the
# 12345 hotline's key, permit).
VISIBLE = {"enterprise": "A", "department": "ABD", "channel": "D", "taskforce": "ABCD",
           "anonymous": ""}
# Own object, another tenant's, another department's, per caller.
OBJECTS = {"enterprise": {"own": "A", "other tenant": "B", "other department": "C"},
           "department": {"own": "A", "other tenant": "B", "other department": "C"},
           "channel": {"own": "D", "other tenant": "A", "other department": "C"},
           "taskforce": {"own": "C", "other tenant": "B", "other department": "C"},
           "anonymous": {"own": "A", "other tenant": "B", "other department": "C"}}


def _path_for(path, params, appeal_id, credit_code):
    values = {"appeal_id": appeal_id, "service_request_id": appeal_id, "credit_code": credit_code,
              "inspection_id": MISSING, "draw_id": MISSING, "token": "not-a-token",
              "key_id": "0123456789ab", "service_code": "permit", "fmt": "json",
              "job_id": "0" * 32,
              # the other routes' parameters: a real name where the route checks it
              # before the caller (so the role is what decides), else nobody's
              "list_name": "tasks", "service": "appeals", "month": "2026-11",
              "period": "2026-11", "page": "ledger", "category": "permit", "town": "hongshi"}
    for p in params:
        # any other path parameter: an id that does not exist, or a code nobody has
        value = values.get(p, MISSING if p.endswith("_id") else "no-such-code")
        path = path.replace("{%s}" % p, str(value))
    return path


def test_every_route_every_role_every_object(stack, start_service, db_factory):
    # rule: GW-2
    start_service(InspectionsService, DB_URL=db_factory("inspections"),
                  INS_CODE_KEY="matrix-entry-code-key-0123456789")
    start_service(ScoringService, DB_URL=db_factory("scoring"))  # every backing service up
    start_service(NotifyService, DB_URL=db_factory("notify"))
    api = stack.gateway()
    hotline = {"X-API-Key": make_key(api, "channel", "hotline_12345")["key"]}
    who = {"enterprise": bearer("enterprise", ENTERPRISE_A, sub="user-a"),
           "department": bearer("department", "approval", sub="clerk-approval"),
           "channel": hotline, "taskforce": bearer("taskforce", "taskforce", sub="tf-1"),
           "anonymous": {}}
    ent_b = bearer("enterprise", ENTERPRISE_B, sub="user-b")
    filings = {"A": (who["enterprise"], {}), "B": (ent_b, {}),
               "C": (ent_b, {"category": "tax"}), "D": (hotline, {"channel": None,
                                                                   "enterprise_code": ENTERPRISE_B})}
    ids = {}
    for name, (headers, extra) in filings.items():
        body = appeal_body(title=f"营商环境 {MARKS[name]}", **extra)
        if headers is ent_b:
            body.pop("enterprise_code")  # an enterprise files for itself only
        r = api.post("/api/v1/appeals", who=headers, json=body)
        assert r.status_code == 201, (name, r.text)
        ids[name] = r.json()["id"]

    spec = api.get("/openapi.json").json()
    checked, failures = 0, []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            documented = set(op["responses"])
            roles = op.get("x-roles")
            params = [p["name"] for p in op.get("parameters", []) if p.get("in") == "path"]
            has_object = bool({"appeal_id", "service_request_id"} & set(params))
            for role, headers in who.items():
                credit = ENTERPRISE_A if role == "enterprise" else ENTERPRISE_B
                cases = OBJECTS[role].items() if has_object else [("any", None)]
                missing_status = None
                if has_object:
                    missing_status = _call(api, method, _path_for(path, params, MISSING, credit),
                                           headers).status_code
                for case, obj in cases:
                    url = _path_for(path, params, ids[obj] if obj else MISSING, credit)
                    r = _call(api, method, url, headers)
                    checked += 1
                    where = f"{method.upper()} {url} as {role} ({case})"
                    status = str(r.status_code)
                    if r.status_code >= 500:
                        failures.append(f"{where}: {status}")
                        continue
                    if status not in documented and not ("4XX" in documented and status[0] == "4"):
                        failures.append(f"{where}: {status} not documented ({sorted(documented)})")
                    if roles is not None and role == "anonymous" and r.status_code not in (401, 403):
                        failures.append(f"{where}: {status}, expected 401 without a credential")
                    elif roles is not None and role != "anonymous" and role not in roles \
                            and r.status_code != 403:
                        failures.append(f"{where}: {status}, expected 403 for a role not allowed")
                    if has_object and role in (roles or ()) and obj not in VISIBLE[role] \
                            and r.status_code != missing_status:
                        failures.append(f"{where}: {status}, but {missing_status} for an object "
                                        "that does not exist (existence leaks)")
                    if has_object and role in (roles or ()) and obj in VISIBLE[role] \
                            and method == "get" and r.status_code != 200:
                        failures.append(f"{where}: {status} reading its own object")
                    text = r.content.decode("utf-8", "replace")
                    for name in set(MARKS) - set(VISIBLE[role]):
                        if MARKS[name] in text:
                            failures.append(f"{where}: shows appeal {name}, not this caller's")
    assert checked > 300
    assert not failures, "\n".join(failures[:40])


def _call(api, method, url, headers):
    kw = {}
    if method in ("post", "put", "patch"):
        kw["json"] = {}
    if url.endswith("/export"):
        kw["params"] = {"format": "csv"}
    return api(method.upper(), url, headers=headers, **kw)
