"""The access matrix, generated from the gateway's own OpenAPI document
(issue 13): every route × every role (enterprise, department, channel key, task
force, no credential) × own object / another tenant's / another department's →
the documented status, nothing of another's in any answer, never a 5xx.

Every route with an object in its path is tried on real objects, per family:
- appeals: four, each with a marker in its title;
- visits (入企检查): one filed by the calling department (market) to the calling
  enterprise, one by another department (tax) to that enterprise, one by tax to
  another enterprise; a marker in each one's reason. An enterprise sees the
  visits to it, a department those it takes part in (services/inspections);
- enterprises' yearly plans: the calling enterprise's, another's;
- export jobs: one started by each of the department, another department, the
  task force and another task-force member: a job is its starter's only;
- ratings (评价): one by the calling enterprise of a market window, one by another
  enterprise of that window, one by another of a tax window; a marker in each
  comment. An enterprise sees its own, a department those of its subjects;
- follow-ups of the two bad ratings (market's, tax's): a department its own;
- webhook subscriptions: the department's, another department's, the task
  force's; a marker in each URL;
- cards (黄牌/红牌) given by the task force to a market window and a tax window; a
  marker in each reason: a department sees its own;
- rectification lists (整改清单), one with an item led by market, one with an
  item led by tax; a marker in each problem: a department sees its own items;
- inbox messages (站内信) the objects above left for the enterprise, another
  enterprise (visited by tax), market and tax: each inbox is its owner's only;
- draws: one real draw, public (一公开) to every caller.
Each role has the markers it must never see, in any answer of any route.
Another's object must answer exactly as an object that does not exist (no
existence oracle); one's own is read with 200. Real gateway over HTTP, real
services, broker and database; one pass over about 1,200 requests (~15 s)."""
import datetime as dt

import eventlet
import pytest

from services.inspections.service import InspectionsService
from services.notify.service import NotifyService
from services.scoring.service import ScoringService
from tests.conftest import ENTERPRISE_A, ENTERPRISE_B
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    appeal_body, bearer, make_key, stack)
from tests.integration.test_inspections_flow import CODE_KEY, DATA, PLAIN
from tests.integration.test_inspections_flow import body as visit_body

pytestmark = [pytest.mark.integration, pytest.mark.db_independent]

MISSING = 987654  # an id no object has
NOT_IN_DIRECTORY = "91433126MA4L001808"  # a valid credit code nobody registered
# appeals A-D, visits X-Z, ratings R-T, webhooks U-W, cards K-L, rectification
# items M-N, the draw G
MARKS = {name: f"MATRIX-{name}-7f3a" for name in "ABCDXYZRSTUVWKLMNG"}
# Which objects each caller may see. Appeals (A: ent_a permit → approval
# leads, market co-handles; B: ent_b permit; C: ent_b tax → the tax bureau; D:
# through the 12345 hotline's key, permit). Visits (X: market → ent_a; Y: tax →
# ent_a; Z: tax → another enterprise). Plans (entA, entB, entP: ent_a's, ent_b's,
# the other enterprise's). Jobs (one per starter). Ratings (R: ent_a → a market
# window, S: ent_b → the same window, T: ent_b → a tax window) and the
# follow-ups of R and T (fu-market, fu-tax). Webhooks (U: market's, V: tax's,
# W: the task force's). Cards (K: market's, L: tax's). Rectification lists
# (list-market, list-tax) and their items (M: led by market, N: by tax). G: the
# draw, public. Inbox messages (msg-ent-a, msg-ent-p, msg-market, msg-tax).
VISIBLE = {"enterprise": {"A", "X", "Y", "entA", "R", "msg-ent-a", "G"},
           "department": {"A", "B", "D", "X", "entA", "entB", "entP", "job-market", "R", "S",
                          "fu-market", "U", "K", "list-market", "M", "msg-market", "G"},
           "channel": {"D", "G"},
           "taskforce": {"A", "B", "C", "D", "X", "Y", "Z", "entA", "entB", "entP",
                         "job-tf-1", "R", "S", "T", "fu-market", "fu-tax", "U", "V", "W", "K", "L",
                         "list-market", "list-tax", "M", "N", "G"},
           "anonymous": {"G"}}
# Per family: the path parameters that name its object (and the path's start
# where a parameter's name is shared), the value of an object that does not
# exist, and each caller's own object / another tenant's / another department's.
FAMILIES = {
    "appeal": (("appeal_id", "service_request_id"), MISSING, {
        "enterprise": ("A", "B", "C"), "department": ("A", "B", "C"),
        "channel": ("D", "A", "C"), "taskforce": ("C", "B", "C"), "anonymous": ("A", "B", "C")}),
    "visit": (("inspection_id",), MISSING, {
        "enterprise": ("X", "Z", "Y"), "department": ("X", "Z", "Y"), "channel": ("X", "Z", "Y"),
        "taskforce": ("X", "Z", "Y"), "anonymous": ("X", "Z", "Y")}),
    "plan": (("credit_code",), NOT_IN_DIRECTORY, {
        "enterprise": ("entA", "entP", "entB"), "department": ("entA", "entP", "entB"),
        "channel": ("entA", "entP", "entB"), "taskforce": ("entA", "entP", "entB"),
        "anonymous": ("entA", "entP", "entB")}),
    "job": (("job_id",), "0" * 32, {
        "enterprise": ("job-market", "job-tf-1", "job-tax"),
        "department": ("job-market", "job-tf-1", "job-tax"),
        "channel": ("job-market", "job-tf-1", "job-tax"),
        "taskforce": ("job-tf-1", "job-tf-2", "job-market"),
        "anonymous": ("job-market", "job-tf-1", "job-tax")}),
    "rating": (("rating_id",), MISSING, {
        "enterprise": ("R", "S", "T"), "department": ("R", "S", "T"), "channel": ("R", "S", "T"),
        "taskforce": ("R", "S", "T"), "anonymous": ("R", "S", "T")}),
    "followup": (("followup_id",), MISSING, {
        role: ("fu-market", "fu-tax", "fu-tax") for role in VISIBLE}),
    "webhook": (("/api/v1/webhooks/", "item_id"), MISSING, {
        "enterprise": ("U", "W", "V"), "department": ("U", "W", "V"), "channel": ("U", "W", "V"),
        "taskforce": ("W", "U", "V"), "anonymous": ("U", "W", "V")}),
    "card": (("card_id",), MISSING, {role: ("K", "L", "L") for role in VISIBLE}),
    "rectification list": (("list_id",), MISSING, {
        role: ("list-market", "list-tax", "list-tax") for role in VISIBLE}),
    "rectification item": (("/api/v1/rectification-items/", "item_id"), MISSING, {
        role: ("M", "N", "N") for role in VISIBLE}),
    "inbox": (("/api/v1/inbox/", "item_id"), MISSING, {
        "enterprise": ("msg-ent-a", "msg-ent-p", "msg-tax"),
        "department": ("msg-market", "msg-ent-a", "msg-tax"),
        "channel": ("msg-ent-a", "msg-ent-p", "msg-tax"),
        # the task force's own inbox is empty here: every message is another's
        "taskforce": ("msg-market", "msg-ent-a", "msg-tax"),
        "anonymous": ("msg-ent-a", "msg-ent-p", "msg-tax")}),
    "draw": (("draw_id",), MISSING, {role: ("G", "G", "G") for role in VISIBLE}),
}
# What a route publishes beyond the caller's own: the monthly notice (通报)
# lists every card, with its reason, to every department.
PUBLISHED = {p: {"department": {"K", "L"}} for p in ("/api/v1/notices", "/notices")}
CASES = ("own", "other tenant", "other department")
# Families whose actions get a valid body (the document's examples): the
# gateway validates a body before the service looks at the object, so with {}
# only the validation would answer. What they change the matrix does not read
# back as a condition (a cancelled visit, a closed item, a read message are
# still their owner's).
VALID_BODIES = {"visit", "rectification item", "inbox"}
DEFAULTS = {"token": "not-a-token", "key_id": "0123456789ab", "service_code": "permit",
            "fmt": "json",
            # the other routes' parameters: a real name where the route checks it
            # before the caller (so the role is what decides), else nobody's
            "list_name": "tasks", "service": "appeals", "month": "2026-11",
            "period": "2026-11", "page": "ledger", "category": "permit", "town": "hongshi"}


def _family(path, params):
    for family, (names, _, _) in FAMILIES.items():
        if names[0].startswith("/"):
            if path.startswith(names[0]) and names[1] in params:
                return family
        elif set(names) & set(params):
            return family
    return None


def _path_for(path, params, family, value):
    for p in params:
        if family and p in FAMILIES[family][0]:
            v = value
        else:  # any other path parameter: an id that does not exist, or a code nobody has
            v = DEFAULTS.get(p, MISSING if p.endswith("_id") else "no-such-code")
        path = path.replace("{%s}" % p, str(v))
    return path


def _objects(api, who):
    """The real objects, each by its name in FAMILIES: their ids."""
    ids = {"entA": ENTERPRISE_A, "entB": ENTERPRISE_B, "entP": PLAIN}
    hotline, ent_b = who["channel"], bearer("enterprise", ENTERPRISE_B, sub="user-b")
    filings = {"A": (who["enterprise"], {}), "B": (ent_b, {}),
               "C": (ent_b, {"category": "tax"}), "D": (hotline, {"channel": None,
                                                                   "enterprise_code": ENTERPRISE_B})}
    for name, (headers, extra) in filings.items():
        body = appeal_body(title=f"营商环境 {MARKS[name]}", **extra)
        if headers is ent_b:
            body.pop("enterprise_code")  # an enterprise files for itself only
        r = api.post("/api/v1/appeals", who=headers, json=body)
        assert r.status_code == 201, (name, r.text)
        ids[name] = r.json()["id"]
    tax = bearer("department", "tax", sub="clerk-tax")
    visits = {"X": (who["department"], "market", ENTERPRISE_A),
              "Y": (tax, "tax", ENTERPRISE_A), "Z": (tax, "tax", PLAIN)}
    for name, (headers, roster, enterprise) in visits.items():
        body = visit_body(roster, enterprise_code=enterprise, reason=f"检查 {MARKS[name]}")
        r = api.post("/api/v1/inspections", who=headers, json=body)
        assert r.status_code == 201 and r.json()["status"] == "approved", (name, r.text)
        ids[name] = r.json()["id"]
    r = api.post("/api/v1/draws", who=who["department"],
                 json={"title": f"双随机 {MARKS['G']}", "item_codes": ["MKT-001"], "count": 1})
    assert r.status_code == 201, r.text
    ids["G"] = r.json()["id"]
    starters = {"job-market": who["department"], "job-tax": tax, "job-tf-1": who["taskforce"],
                "job-tf-2": bearer("taskforce", "taskforce", sub="tf-2")}
    for name, headers in starters.items():
        r = api.post("/api/v1/appeals/exports", who=headers, params={"format": "csv"})
        assert r.status_code == 202, r.text
        ids[name] = r.json()["id"]
        for _ in range(200):  # done, so its owner's download answers 200
            if api.get(r.headers["Location"], who=headers).json()["status"] == "done":
                break
            eventlet.sleep(0.05)
    ratings = {"R": (who["enterprise"], "win_market_1", 2), "S": (ent_b, "win_market_1", 4),
               "T": (ent_b, "win_tax_1", 1)}
    for name, (headers, subject, score) in ratings.items():
        r = api.post("/api/v1/ratings", who=headers, json={
            "subject_code": subject, "service_event": f"T-{name}", "score": score,
            "comment": f"评价 {MARKS[name]}"})
        assert r.status_code == 201, (name, r.text)
        ids[name] = r.json()["id"]
        if score <= 2:  # a bad rating opens a follow-up of the subject's department
            ids["fu-market" if name == "R" else "fu-tax"] = r.json()["followup_id"]
    hooks = {"U": who["department"], "V": tax, "W": who["taskforce"]}
    for name, headers in hooks.items():
        r = api.post("/api/v1/webhooks", who=headers, json={
            "url": f"https://hooks.example.com/{MARKS[name]}", "event_types": ["appeal.created"]})
        assert r.status_code == 201, (name, r.text)
        ids[name] = r.json()["id"]
    for name, subject in (("K", "win_market_1"), ("L", "win_tax_1")):
        r = api.post("/api/v1/cards", who=who["taskforce"], json={
            "colour": "yellow", "subject_code": subject, "reason": f"离岗 {MARKS[name]}"})
        assert r.status_code == 201, (name, r.text)
        ids[name] = r.json()["id"]
    deadline = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    for name, lead in (("M", "market"), ("N", "tax")):
        r = api.post("/api/v1/rectification-lists", who=who["taskforce"], json={
            "source": "评估", "findings": [{
                "problem": f"时限 {MARKS[name]}", "measure": "并联审批", "lead_department": lead,
                "responsible_leader": "王副县长", "co_departments": [], "deadline": deadline}]})
        assert r.status_code == 201, (name, r.text)
        ids[f"list-{lead}"], ids[name] = r.json()["id"], r.json()["items"][0]["id"]
    inboxes = {"msg-ent-a": who["enterprise"], "msg-ent-p": bearer("enterprise", PLAIN, sub="user-p"), "msg-market": who["department"],
               "msg-tax": tax}
    for name, headers in inboxes.items():  # notify writes them from the appeals' events
        for _ in range(200):
            items = api.get("/api/v1/inbox", who=headers).json()["items"]
            if items:
                ids[name] = items[0]["id"]
                break
            eventlet.sleep(0.05)
        assert name in ids, f"no message in {name}'s inbox"
    return ids


def test_every_route_every_role_every_object(stack, start_service, db_factory):
    # rule: GW-2
    start_service(InspectionsService, DB_URL=db_factory("inspections"), INS_CODE_KEY=CODE_KEY,
                  INS_SEED_REGISTERS=str(DATA / "registers.json"),
                  INS_SEED_DIRECTORY=str(DATA / "directory.csv"),
                  INS_NO_PENALTY_FILE=str(DATA / "no_penalty.json"))
    start_service(ScoringService, DB_URL=db_factory("scoring"))  # every backing service up
    start_service(NotifyService, DB_URL=db_factory("notify"),
                  WEBHOOK_ALLOW=["hooks.example.com"])  # no DNS here: the host allowed by name
    api = stack.gateway()
    hotline = {"X-API-Key": make_key(api, "channel", "hotline_12345")["key"]}
    # the department: the market regulator, which co-handles permit appeals
    # (A, B, D) and files visits
    who = {"enterprise": bearer("enterprise", ENTERPRISE_A, sub="user-a"),
           "department": bearer("department", "market", sub="clerk-market"),
           "channel": hotline, "taskforce": bearer("taskforce", "taskforce", sub="tf-1"),
           "anonymous": {}}
    ids = _objects(api, who)

    spec = api.get("/openapi.json").json()
    checked, on_objects, failures = 0, set(), []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            documented = set(op["responses"])
            roles = op.get("x-roles")
            params = [p["name"] for p in op.get("parameters", []) if p.get("in") == "path"]
            family = _family(path, params)
            for role, headers in who.items():
                cases = [("any", None)]
                missing_status = None
                if family:
                    _, missing, table = FAMILIES[family]
                    cases = list(zip(CASES, table[role]))
                    missing_status = _call(api, method, _path_for(path, params, family, missing),
                                           headers, _body(spec, op, family)).status_code
                for case, obj in cases:
                    url = _path_for(path, params, family, ids[obj] if obj else None)
                    r = _call(api, method, url, headers, _body(spec, op, family))
                    checked += 1
                    if obj:
                        on_objects.add(family)
                    where = f"{method.upper()} {url} as {role} ({case}: {obj})"
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
                    if obj and role in (roles or ()) and obj not in VISIBLE[role] \
                            and r.status_code != missing_status:
                        failures.append(f"{where}: {status}, but {missing_status} for an object "
                                        "that does not exist (existence leaks)")
                    if obj and role in (roles or ()) and obj in VISIBLE[role] \
                            and method == "get" and r.status_code != 200:
                        failures.append(f"{where}: {status} reading its own object")
                    text = r.content.decode("utf-8", "replace")
                    seen = VISIBLE[role] | PUBLISHED.get(path.split("/{")[0], {}).get(role, set())
                    for name in set(MARKS) - seen:
                        if MARKS[name] in text:
                            failures.append(f"{where}: shows {name}, not this caller's")
    assert on_objects == set(FAMILIES)  # every family met on real objects
    assert checked > 900
    assert not failures, "\n".join(failures[:40])


def _body(spec, op, family):
    """The request body the document gives as its example (each required
    field's example), for the families in VALID_BODIES; else {}."""
    media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = media.get("schema")
    if family not in VALID_BODIES or not schema:
        return {}
    if "example" in media:  # the operation's own example
        return media["example"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    props = schema.get("properties", {})
    return {k: props[k]["example"] for k in schema.get("required", []) if "example" in props[k]}


def _call(api, method, url, headers, body=None):
    kw = {}
    if method in ("post", "put", "patch"):
        kw["json"] = body or {}
    if url.endswith("/export"):
        kw["params"] = {"format": "csv"}
    return api(method.upper(), url, headers=headers, **kw)
