"""The inspections routes of the gateway (入企检查, INS-1 … INS-9 under contract v1).

A real inspections container (and the appeals one where /readyz needs it) and
a real gateway on the real broker and database (SQLite, or PostgreSQL with
QQ_TEST_DB=postgres); the tests speak HTTP to the gateway, as the department
systems, the task force's pages, an enterprise's phone and a passer-by
scanning a QR code would.
"""
import datetime as dt
import time

import eventlet
import pytest
import requests
from openapi_spec_validator import validate

from gateway import access
from gateway.access import scopes_from_claims
from gateway.service import GatewayService
from kernel.rpc import Caller
from services.appeals.service import AppealsService
from services.inspections import codes
from services.inspections import domain as inspections_domain
from services.inspections.service import InspectionsService
from services.scoring.service import ScoringService
from tests.conftest import ENTERPRISE_A, free_port
from tests.integration.test_gateway_kit import SECRET, UNLIMITED, Api, assert_problem, bearer
from tests.integration.test_inspections_flow import (CODE_KEY, DATA, KEY_ENT, PLAIN, PLAIN_2,
                                                     body, next_month, today)

pytestmark = pytest.mark.integration

NEW_CODE = "91433126MA4L001101"  # the solar company: in bad_rows.csv, not in the seed
NOT_IN_DIRECTORY = "91433126MA4L001808"  # a valid credit code nobody registered
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

MARKET = bearer("department", "market", sub="clerk-market")
TAX = bearer("department", "tax", sub="clerk-tax")
EMERGENCY = bearer("department", "emergency", sub="clerk-emergency")
HEAD = bearer("taskforce", "taskforce", sub="tf-head")  # in INS_TASKFORCE_HEADS
SCOPED_HEAD = bearer("taskforce", "taskforce", sub="tf-deputy", scope="inspections:approve")
TASKFORCE = bearer("taskforce", "taskforce", sub="tf-1")  # staff, not the head
ADMIN = bearer("admin", sub="admin-1")
ENT_PLAIN = bearer("enterprise", PLAIN, sub="user-water")
ENT_OTHER = bearer("enterprise", ENTERPRISE_A, sub="user-tea")

ACTIONS = ("approve", "reject", "cancel", "after-filing", "results", "review")
# What these routes add to the OpenAPI document (the existing document test
# checks the rest).
OPERATIONS = {
    ("/api/v1/inspections", "post"), ("/api/v1/inspections", "get"),
    ("/api/v1/inspections/{inspection_id}", "get"),
    ("/api/v1/inspections/{inspection_id}/entry-code.png", "get"),
    ("/api/v1/inspections/{inspection_id}/entry-code.svg", "get"),
    ("/api/v1/inspections/joint", "post"), ("/api/v1/inspections/joint-candidates", "get"),
    ("/verify/{token}", "get"), ("/api/v1/draws", "post"), ("/api/v1/draws/{draw_id}", "get"),
    ("/draws/{draw_id}", "get"), ("/draws", "get"), ("/api/v1/draws/{draw_id}/replay", "get"),
    ("/api/v1/inspections/exceptions", "get"), ("/api/v1/registers/items", "get"),
    ("/api/v1/registers/items/{code}", "put"), ("/api/v1/registers/inspectors", "get"),
    ("/api/v1/registers/inspectors/{code}", "put"), ("/api/v1/registers/history", "get"), ("/api/v1/enterprises/{credit_code}/plan", "get"),
    ("/api/v1/directory/import", "post"),
} | {(f"/api/v1/inspections/{{inspection_id}}/{a}", "post") for a in ACTIONS}


@pytest.fixture
def platform(db_factory, start_service):
    """``platform(appeals=False, **gateway_config)`` → an Api to a gateway in
    front of a fresh inspections service (seeded with tests/data/inspections)
    whose QR codes point at that gateway."""
    started = []

    def start(appeals=False, **gateway_config):
        address = f"127.0.0.1:{free_port()}"
        services = {}
        if appeals:
            services["appeals"] = start_service(AppealsService, DB_URL=db_factory("appeals"))
        services["inspections"] = start_service(
            InspectionsService, DB_URL=db_factory("inspections"),
            INS_SEED_REGISTERS=str(DATA / "registers.json"),
            INS_SEED_DIRECTORY=str(DATA / "directory.csv"),
            INS_NO_PENALTY_FILE=str(DATA / "no_penalty.json"),
            INS_CODE_KEY=CODE_KEY, INS_TASKFORCE_HEADS=["tf-head"],
            INS_PUBLIC_BASE_URL=f"http://{address}")
        api = Api(start_service(GatewayService, WEB_SERVER_ADDRESS=address,
                                DB_URL=db_factory("gateway"), GATEWAY_JWT_SECRET=SECRET,
                                **{**UNLIMITED, **gateway_config}))
        api.services = services
        started.append(api)
        return api

    yield start
    pool = eventlet.GreenPool()  # together: each container takes a second or two to stop
    for api in started:
        api.close()
        for container in [api.container, *api.services.values()]:
            pool.spawn(container.stop)
    pool.waitall()


@pytest.fixture
def gw(platform):
    return platform()


def file_visit(gw, who=MARKET, status=201, **overrides):
    b = body(**overrides)
    b.pop("department", None)
    r = gw.post("/api/v1/inspections", who=who, json=b)
    assert r.status_code == status, r.text
    return r.json()


def rules(visit):
    return [v["rule"] for v in visit["violations"]]


def public(url):
    """A GET with no credential at all, as a phone scanning the code makes it."""
    return requests.get(url, timeout=30, proxies={"http": None, "https": None})


# -- filing and the head's decision (INS-1, INS-2, INS-4) ---------------------------------------

def test_a_quiet_day_visit_is_red_until_the_head_approves_it(gw):
    # rule: INS-2
    # rule: INS-4
    r = gw.post("/api/v1/inspections", who=MARKET, json=body(planned_date=next_month(15)))
    assert r.status_code == 201, r.text
    quiet = r.json()
    assert (quiet["status"], quiet["entry_code"], rules(quiet)) == ("pending_approval", "red", ["INS-2"])
    assert r.headers["Location"] == f"/api/v1/inspections/{quiet['id']}"
    assert quiet["department"] == "market" and quiet["enterprise_code"] == PLAIN
    assert "token" not in quiet and quiet["verify_url"].startswith(gw.base + "/verify/v1.")
    # rule: INS-1 — an item of another department's list is refused, by rule ID
    refused = file_visit(gw, items=["TAX-001"])
    assert (refused["status"], refused["entry_code"]) == ("rejected", "red")
    assert "INS-1" in rules(refused)

    # rule: INS-4 — nobody but the task force's head decides
    for who in (TASKFORCE, ADMIN, MARKET, ENT_PLAIN):
        assert_problem(gw.post(f"/api/v1/inspections/{quiet['id']}/approve", who=who, json={}), 403)
    assert_problem(gw.post(f"/api/v1/inspections/{quiet['id']}/approve", json={}), 401)
    # a department's token claiming the head's scope is still a department
    claimed = bearer("department", "market", sub="clerk-market", scope="inspections:approve")
    assert_problem(gw.post(f"/api/v1/inspections/{quiet['id']}/approve", who=claimed, json={}), 403)
    assert gw.get(f"/api/v1/inspections/{quiet['id']}", who=MARKET).json()["status"] == "pending_approval"

    r = gw.post(f"/api/v1/inspections/{quiet['id']}/approve", who=HEAD, json={"note": "同意"})
    assert r.status_code == 200, r.text
    approved = r.json()
    assert (approved["status"], approved["entry_code"]) == ("approved", "green")
    assert (approved["decided_by"], approved["decision_note"]) == ("taskforce:tf-head", "同意")
    assert [h["action"] for h in approved["history"]] == ["file", "approve"]
    body_409 = assert_problem(gw.post(f"/api/v1/inspections/{quiet['id']}/approve", who=HEAD), 409)
    assert "pending" in body_409["detail"]

    # the head named by the inspections:approve scope of the token (no configured sub)
    second = file_visit(gw, planned_date=next_month(16))
    assert_problem(gw.post(f"/api/v1/inspections/{second['id']}/reject", who=SCOPED_HEAD, json={}),
                   422, "note")
    r = gw.post(f"/api/v1/inspections/{second['id']}/approve", who=SCOPED_HEAD)
    assert r.status_code == 200, r.text
    assert (r.json()["entry_code"], r.json()["decided_by"]) == ("green", "taskforce:tf-deputy")
    third = file_visit(gw, planned_date=next_month(17))
    r = gw.post(f"/api/v1/inspections/{third['id']}/reject", who=HEAD, json={"note": "与计划重复"})
    assert (r.status_code, r.json()["status"], r.json()["entry_code"]) == (200, "rejected", "red")


def test_the_same_idempotency_key_files_one_visit(gw):
    # rule: GW-3
    headers = {**MARKET, "Idempotency-Key": "dept-system-visit-0001"}
    first = gw.post("/api/v1/inspections", who=headers, json=body())
    again = gw.post("/api/v1/inspections", who=headers, json=body())
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json()["id"] == again.json()["id"]
    other = gw.post("/api/v1/inspections", who={**TAX, "Idempotency-Key": "dept-system-visit-0001"},
                    json=body("tax"))
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]  # its own key
    listed = gw.get("/api/v1/inspections", who=HEAD).json()["items"]
    assert sorted(v["id"] for v in listed) == sorted([first.json()["id"], other.json()["id"]])


# -- who sees what (GW-2) -----------------------------------------------------------------------

def test_the_heads_scope_as_the_gateway_reads_it_and_who_sees_a_visit():
    # rule: INS-4 (the head's scope, as the gateway reads it from a verified token)
    # rule: GW-2
    assert scopes_from_claims("taskforce", {"scope": "openid inspections:approve"}) == (
        "inspections:approve",)
    assert scopes_from_claims("taskforce", {"scope": ["inspections:approve", 7]}) == (
        "inspections:approve",)
    assert scopes_from_claims("taskforce", {"scope": "inspections:approve:all admin"}) == ()
    assert scopes_from_claims("department", {"scope": "inspections:approve"}) == ()
    assert scopes_from_claims("taskforce", {}) == () == scopes_from_claims("taskforce", {"scope": 1})
    visit = {"id": 1, "departments": ["market", "tax"], "enterprise_code": PLAIN}
    sees = {Caller("department", "c", "market"): True, Caller("department", "c", "tax"): True,
            Caller("department", "c", "ecology"): False, Caller("enterprise", "u", PLAIN): True,
            Caller("enterprise", "u", ENTERPRISE_A): False, Caller("channel", "k", "media"): False,
            Caller("taskforce", "t"): True, Caller("admin", "a"): True}
    for caller, expected in sees.items():  # decided once, by the inspections service
        assert inspections_domain.can_see(visit["departments"], visit["enterprise_code"],
                                          caller) is expected, caller
    assert not hasattr(access, "can_see_inspection")


def test_nobody_sees_a_visit_that_is_not_theirs(gw):
    # rule: GW-2
    visit = file_visit(gw)  # market → PLAIN
    vid = visit["id"]
    missing = assert_problem(gw.get("/api/v1/inspections/999999", who=HEAD), 404)
    for who in (TAX, ENT_OTHER):  # another department, another enterprise
        for path in (f"/api/v1/inspections/{vid}", f"/api/v1/inspections/{vid}/entry-code.png",
                     f"/api/v1/inspections/{vid}/entry-code.svg"):
            refused = assert_problem(gw.get(path, who=who), 404)
            assert (refused["title"], refused["detail"]) == (missing["title"], missing["detail"])
        assert vid not in [v["id"] for v in gw.get("/api/v1/inspections", who=who).json()["items"]]
    assert_problem(gw.post(f"/api/v1/inspections/{vid}/cancel", who=TAX,
                           json={"reason": "不是我的"}), 404)
    assert_problem(gw.post(f"/api/v1/inspections/{vid}/results", who=TAX, json={
        "findings": [{"item_code": "MKT-001", "outcome": "compliant"}]}), 404)
    # the enterprise visited sees it; the filing department and the task force too
    for who in (ENT_PLAIN, MARKET, HEAD, ADMIN):
        assert gw.get(f"/api/v1/inspections/{vid}", who=who).json()["id"] == vid
        assert vid in [v["id"] for v in gw.get("/api/v1/inspections", who=who).json()["items"]]
    # roles that may never act get 403 whatever the id; no credential, 401
    assert_problem(gw.post("/api/v1/inspections", who=ENT_PLAIN, json=body()), 403)
    assert_problem(gw.post(f"/api/v1/inspections/{vid}/cancel", who=ENT_PLAIN,
                           json={"reason": "x"}), 403)
    assert_problem(gw.get("/api/v1/inspections/joint-candidates?month=2026-01", who=MARKET), 403)
    assert_problem(gw.get("/api/v1/inspections"), 401)
    assert_problem(gw.get(f"/api/v1/inspections/{vid}/entry-code.png"), 401)
    r = gw.post(f"/api/v1/inspections/{vid}/cancel", who=MARKET, json={"reason": "计划调整"})
    assert (r.status_code, r.json()["status"], r.json()["entry_code"]) == (200, "cancelled", "red")


# -- bad input (GW-1) ---------------------------------------------------------------------------

def test_bad_input_is_named_by_field_and_files_nothing(gw):
    # rule: GW-1
    # rule: INS-1
    yesterday = (today() - dt.timedelta(days=1)).isoformat()
    cases = {  # field → a filing by the market department that is wrong in it
        "enterprise_code": body(enterprise_code="91433126MA4L00060X"),  # bad check character
        "kind": body(kind="social_call"),
        "planned_date": body(planned_date="2026-02-30"),
        "items.0": body(items=["MKT 001"]),
        "inspectors": body(inspectors="MKT-I-01"),
        "department": body(department="tax"),  # a department files for itself
        "x": {**body(), "x": 1},
    }
    for field, payload in cases.items():
        assert_problem(gw.post("/api/v1/inspections", who=MARKET, json=payload), 422, field)
    service_says = {  # the shape is right; the inspections service's rules refuse it
        "planned_date": body(planned_date=yesterday),
        "items": body(items=[]),
        "exempt_category": body(exempt_category="friendly_chat"),
        "enterprise_code": body(enterprise_code=NOT_IN_DIRECTORY),
        "reason": body(kind="emergency", reason="", planned_date=today()),
    }
    for field, payload in service_says.items():
        assert_problem(gw.post("/api/v1/inspections", who=MARKET, json=payload), 422, field)
    no_inspectors = {k: v for k, v in body().items() if k != "inspectors"}
    assert_problem(gw.post("/api/v1/inspections", who=MARKET, json=no_inspectors), 422, "inspectors")
    assert_problem(gw.post("/api/v1/inspections", who=HEAD, json=body()), 422, "department")
    assert_problem(gw.post("/api/v1/inspections", who={**MARKET, "Idempotency-Key": "has space"},
                           json=body()), 422, "Idempotency-Key")
    assert_problem(gw.post("/api/v1/inspections", who=MARKET, data=b"{not json",
                           headers={"Content-Type": "application/json"}), 400)
    for query, field in (("status=lost", "status"), ("month=2026-13", "month"), ("limit=0", "limit"),
                         ("flagged=perhaps", "flagged"), ("enterprise_code=123", "enterprise_code")):
        assert_problem(gw.get(f"/api/v1/inspections?{query}", who=HEAD), 422, field)
    assert gw.get("/api/v1/inspections", who=HEAD).json()["items"] == []  # nothing was filed

    visit = file_visit(gw)
    results = f"/api/v1/inspections/{visit['id']}/results"
    bad = gw.post(results, who=MARKET, json={"findings": [{"item_code": "MKT-001", "outcome": "violation"}]})
    problem = assert_problem(bad, 422, "findings.0.violation_code")
    assert "findings.0.severity" in problem["errors"]
    assert_problem(gw.post(results, who=MARKET, json={"findings": []}), 422, "findings")
    assert_problem(gw.post(results, who=MARKET, json={"findings": [
        {"item_code": "TAX-001", "outcome": "compliant"}]}), 422, "findings.0.item_code")
    assert_problem(gw.post(f"/api/v1/inspections/{visit['id']}/cancel", who=MARKET, json={}), 422, "reason")
    assert_problem(gw.post(f"/api/v1/inspections/{visit['id']}/teleport", who=MARKET, json={}), 404)
    assert_problem(gw.post("/api/v1/draws", who=MARKET, json={"title": "抽查", "count": "2"}), 422, "count")
    assert_problem(gw.post("/api/v1/draws", who=HEAD, json={"title": "抽查", "count": 1}), 422, "department")
    assert_problem(gw.post("/api/v1/inspections/joint", who=HEAD, json={"visit_ids": [visit["id"]]}),
                   422, "visit_ids")
    assert_problem(gw.get("/api/v1/inspections/joint-candidates", who=HEAD), 422, "month")
    after = gw.get(f"/api/v1/inspections/{visit['id']}", who=MARKET).json()
    assert after["status"] == "approved" and all(i["outcome"] is None for i in after["items"])


# -- the entry code and the public verification page (INS-4) -------------------------------------

def test_the_entry_code_and_its_public_verification_page(gw):
    # rule: INS-4
    visit = file_visit(gw, planned_date=next_month(15))  # quiet day: red
    png = gw.get(f"/api/v1/inspections/{visit['id']}/entry-code.png", who=MARKET)
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.content.startswith(PNG_MAGIC)
    assert (png.headers["X-Entry-Code"], png.headers["Cache-Control"]) == ("red", "no-store")
    # the QR code carries the verification URL, drawn red
    assert png.content == codes.render(visit["verify_url"], "red", "png")
    svg = gw.get(f"/api/v1/inspections/{visit['id']}/entry-code.svg", who=ENT_PLAIN)
    assert svg.status_code == 200 and svg.headers["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content and codes.COLOURS["red"].encode() in svg.content

    page = public(visit["verify_url"])  # no credential: what the enterprise's gate sees
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'data-result="red"' in page.text
    assert "示范县矿泉水有限公司" in page.text and "田雨" in page.text and "彭晓" in page.text
    assert gw.post(f"/api/v1/inspections/{visit['id']}/approve", who=HEAD).status_code == 200
    assert 'data-result="green"' in public(visit["verify_url"]).text  # the same printed code
    png = gw.get(f"/api/v1/inspections/{visit['id']}/entry-code.png", who=MARKET)
    assert png.headers["X-Entry-Code"] == "green"

    token = visit["verify_url"].rsplit("/", 1)[1]
    prefix, claims, mac = token.split(".")
    other_visit = codes.sign(CODE_KEY.encode(), visit["id"] + 1, PLAIN,
                             dt.date.fromisoformat(visit["planned_date"])).split(".")[1]
    forged = {
        "altered mac": f"{prefix}.{claims}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}",
        "altered claims": f"{prefix}.{other_visit}.{mac}",
        "another key": codes.sign(b"someone-elses-key", visit["id"], PLAIN,
                                  dt.date.fromisoformat(visit["planned_date"])),
        "not a token": "hello",
        "too long": "v1." + "A" * 600 + ".x",
    }
    for what, bad in forged.items():
        page = public(f"{gw.base}/verify/{bad}")
        assert page.status_code == 404, what
        assert page.headers["Content-Type"].startswith("text/html"), what
        assert 'data-result="invalid"' in page.text and "示范县矿泉水有限公司" not in page.text, what


# -- the yearly plan (INS-9), the double random draw (INS-6) -----------------------------------------

def test_an_enterprise_sees_its_own_yearly_plan_only(gw):
    # rule: INS-9
    visit = file_visit(gw)
    year = dt.date.fromisoformat(visit["planned_date"]).year
    r = gw.get(f"/api/v1/enterprises/{PLAIN}/plan?year={year}", who=ENT_PLAIN)
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["enterprise"]["credit_code"] == PLAIN and plan["year"] == year
    assert [v["id"] for v in plan["inspections"]] == [visit["id"]]
    assert {"MKT-001", "ECO-001"} <= {s["item_code"] for s in plan["standards"]}  # food industry
    assert plan["monthly_cap"] is None  # not a key enterprise
    missing = assert_problem(gw.get(f"/api/v1/enterprises/{NOT_IN_DIRECTORY}/plan", who=HEAD), 404)
    for code in (KEY_ENT, NOT_IN_DIRECTORY, "not-a-credit-code"):  # another's looks like none
        refused = assert_problem(gw.get(f"/api/v1/enterprises/{code}/plan", who=ENT_PLAIN), 404)
        assert refused["detail"] == missing["detail"]
    assert_problem(gw.get(f"/api/v1/enterprises/{PLAIN}/plan", who=ENT_OTHER), 404)
    for who in (MARKET, HEAD):  # departments and the task force see any
        key = gw.get(f"/api/v1/enterprises/{KEY_ENT}/plan", who=who)
        assert key.status_code == 200 and key.json()["monthly_cap"] == 3
    assert_problem(gw.get(f"/api/v1/enterprises/{PLAIN}/plan?year=1999", who=ENT_PLAIN), 422, "year")
    assert_problem(gw.get(f"/api/v1/enterprises/{PLAIN}/plan"), 401)


def test_a_draw_is_reproducible_and_its_results_public(gw):
    # rule: INS-6
    draw = {"title": "食品安全双随机抽查", "item_codes": ["MKT-001"],
            "filters": {"industry": ["food"]}, "count": 2}
    # the drawing department never picks the seed
    assert_problem(gw.post("/api/v1/draws", who=MARKET, json={**draw, "seed": "chosen"}), 422, "seed")
    r = gw.post("/api/v1/draws", who=MARKET, json=draw)
    assert r.status_code == 201, r.text
    made = r.json()
    assert r.headers["Location"] == f"/api/v1/draws/{made['id']}"
    assert made["department"] == "market" and len(made["seed"]) == 64 and made["attempt"] == 1
    assert len(made["targets"]) == 2 and all(len(t["inspectors"]) == 2 for t in made["targets"])
    drawn_for_plain = next(t for t in made["targets"] if t["credit_code"] == PLAIN)
    assert "MKT-I-02" not in [i["code"] for i in drawn_for_plain["inspectors"]]  # declared conflict
    again = gw.post("/api/v1/draws", who=HEAD, json={**draw, "department": "market"}).json()
    # drawing again is a second attempt, kept and public beside the first
    assert again["id"] != made["id"] and again["attempt"] == 2
    assert again["population_digest"] == made["population_digest"]
    assert gw.get(f"/api/v1/draws/{made['id']}", who=ENT_PLAIN).json()["targets"] == made["targets"]
    page = public(f"{gw.base}/draws/{made['id']}")  # 一公开: no credential
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for shown in (made["seed"], made["population_digest"], PLAIN, "MKT-I-01",
                  f'<span data-field="population">{made["population"]}</span>'):
        assert shown in page.text
    index = public(f"{gw.base}/draws")
    assert index.status_code == 200 and f'data-draw="{again["id"]}"' in index.text \
        and f'data-draw="{made["id"]}"' in index.text
    replay = public(f"{gw.base}/api/v1/draws/{made['id']}/replay")  # anyone re-runs it
    assert replay.status_code == 200, replay.text
    assert replay.json()["matches"] is True and replay.json()["digest_matches"] is True
    assert [t["credit_code"] for t in replay.json()["result"]] == \
        [t["credit_code"] for t in made["targets"]]
    assert_problem(public(f"{gw.base}/api/v1/draws/999999/replay"), 404)
    assert_problem(public(f"{gw.base}/draws/999999"), 404)
    assert_problem(gw.post("/api/v1/draws", who=ENT_PLAIN, json=draw), 403)
    assert_problem(gw.post("/api/v1/draws", who=MARKET, json={**draw, "department": "tax"}),
                   422, "department")


# -- joint visits (INS-7), the emergency's record (INS-5), results (INS-8) -----------------------------

def test_joint_visits_an_emergencys_record_and_results(gw):
    # rule: INS-7
    a = file_visit(gw, enterprise_code=PLAIN_2, planned_date=next_month(3))
    b = file_visit(gw, who=TAX, **{**body("tax"), "enterprise_code": PLAIN_2,
                                   "planned_date": next_month(5).isoformat()})
    month = next_month(3).strftime("%Y-%m")
    found = gw.get(f"/api/v1/inspections/joint-candidates?month={month}", who=HEAD)
    assert found.status_code == 200, found.text
    candidate = next(c for c in found.json()["items"] if c["enterprise_code"] == PLAIN_2)
    assert candidate["departments"] == ["market", "tax"]
    assert sorted(v["id"] for v in candidate["visits"]) == sorted([a["id"], b["id"]])
    r = gw.post("/api/v1/inspections/joint", who=HEAD, json={"visit_ids": [a["id"], b["id"]]})
    assert r.status_code == 201, r.text
    joint = r.json()
    assert (joint["kind"], joint["status"], joint["departments"]) == ("joint", "approved", ["market", "tax"])
    assert sorted(joint["merged_from"]) == sorted([a["id"], b["id"]])
    merged = gw.get(f"/api/v1/inspections/{a['id']}", who=MARKET).json()
    assert (merged["status"], merged["merged_into"]) == ("merged", joint["id"])
    # rule: INS-8 — each department records its own items; all recorded → completed
    results = f"/api/v1/inspections/{joint['id']}/results"
    r = gw.post(results, who=MARKET, json={"findings": [{"item_code": "MKT-001", "outcome": "compliant"}]})
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    r = gw.post(results, who=TAX, json={"findings": [{"item_code": "TAX-001", "outcome": "compliant"}]})
    assert (r.status_code, r.json()["status"], r.json()["entry_code"]) == (200, "completed", "green")

    # rule: INS-5 — an emergency goes at once and files its record afterwards
    emergency = file_visit(gw, who=EMERGENCY, **{**body("emergency"), "enterprise_code": KEY_ENT,
                                                 "kind": "emergency", "reason": "有毒气体泄漏",
                                                 "planned_date": today().isoformat()})
    assert (emergency["status"], emergency["entry_code"]) == ("approved", "green")
    assert emergency["after_due_at"] is not None and emergency["after_filed_at"] is None
    record = {"record": "已关闭阀门，无人员伤亡", "findings": [
        {"item_code": "EMG-001", "outcome": "violation", "violation_code": "EMG-TRAINING-RECORD",
         "severity": "minor", "finding": "安全培训记录不全"}]}
    after_filing = f"/api/v1/inspections/{emergency['id']}/after-filing"
    assert_problem(gw.post(after_filing, who=MARKET, json=record), 404)  # not its visit
    r = gw.post(after_filing, who=EMERGENCY, json=record)
    assert r.status_code == 200, r.text
    filed = r.json()
    assert filed["after_filed_at"] and filed["after_record"] == record["record"]
    assert filed["flagged_at"] is None and filed["status"] == "completed"
    # rule: INS-8 — a first minor violation on the no-penalty list is recorded, not penalised
    item = filed["items"][0]
    assert (item["outcome"], item["first_offence"], item["penalised"]) == ("violation", True, False)
    assert item["no_penalty_code"] == "SWBF-EMG-01" and item["no_penalty_name"]
    assert_problem(gw.post(after_filing, who=EMERGENCY, json={"record": "再次备案"}), 409)
    assert_problem(gw.post(f"/api/v1/inspections/{a['id']}/after-filing", who=MARKET,
                           json={"record": "x"}), 409)  # only an emergency is filed afterwards

    # rule: INS-5 — the task force sees every emergency; its head reviews the record, once
    listed = gw.get("/api/v1/inspections/exceptions?unreviewed=true", who=TASKFORCE)
    assert listed.status_code == 200, listed.text
    assert emergency["id"] in [v["id"] for v in listed.json()["items"]]
    assert_problem(gw.get("/api/v1/inspections/exceptions", who=EMERGENCY), 403)
    review = f"/api/v1/inspections/{emergency['id']}/review"
    verdict = {"verdict": "accepted", "reason": "确属紧急, 记录完整"}
    assert_problem(gw.post(review, who=TASKFORCE, json=verdict), 403)  # staff, not the head
    assert_problem(gw.post(review, who=HEAD, json={"verdict": "accepted"}), 422, "reason")
    r = gw.post(review, who=HEAD, json=verdict)
    assert r.status_code == 200, r.text
    assert (r.json()["review"], r.json()["review_reason"]) == ("accepted", verdict["reason"])
    assert_problem(gw.post(review, who=HEAD, json=verdict), 409)
    listed = gw.get("/api/v1/inspections/exceptions?unreviewed=true", who=HEAD).json()
    assert emergency["id"] not in [v["id"] for v in listed["items"]]


# -- the registers and their history (INS-1) -------------------------------------------------

def test_the_registers_are_kept_over_http_with_their_history(gw):
    # rule: INS-1
    item = {"department": "market", "name": "计量器具检查", "legal_basis": "《计量法》第二十一条",
            "standard": "强检器具在检定有效期内"}
    assert_problem(gw("PUT", "/api/v1/registers/items/MKT-009", who=MARKET, json=item), 403)
    r = gw("PUT", "/api/v1/registers/items/MKT-009", who=HEAD, json=item)
    assert r.status_code == 200, r.text
    assert r.json()["code"] == "MKT-009"
    assert "MKT-009" in [i["code"] for i in gw.get("/api/v1/registers/items?department=market",
                                                     who=MARKET).json()["items"]]
    person = {"department": "market", "name": "周敏", "certificate_no": "43312601099"}
    assert gw("PUT", "/api/v1/registers/inspectors/MKT-I-09", who=MARKET, json=person).status_code == 200
    r = gw("PUT", "/api/v1/registers/inspectors/MKT-I-09", who=MARKET, json={**person, "active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert_problem(gw("PUT", "/api/v1/registers/inspectors/TAX-I-09", who=MARKET,
                          json={**person, "department": "tax"}), 403)  # not its roster
    assert_problem(gw("PUT", "/api/v1/registers/inspectors/MKT-I-10", who=MARKET,
                          json={**person, "name": ""}), 422, "name")
    history = gw.get("/api/v1/registers/history?code=MKT-I-09", who=MARKET)
    assert history.status_code == 200, history.text
    changes = history.json()["items"]
    assert [(c["change"], c["actor"]) for c in changes] == [
        ("update", "department:clerk-market"), ("create", "department:clerk-market")]
    assert changes[0]["fields"] == {"active": [True, False]}
    assert_problem(gw.get("/api/v1/registers/history?department=market", who=TAX), 404)
    assert_problem(gw.get("/api/v1/registers/history", who=ENT_PLAIN), 403)


# -- the directory import (registry CSV) ------------------------------------------------------

def test_the_directory_import_reports_bad_rows_by_line_and_column(gw):
    # rule: INS-3 (the key-enterprise flags come from the directory)
    # rule: GW-3
    csv_bytes = (DATA / "bad_rows.csv").read_bytes()
    csv_headers = {"Content-Type": "text/csv; charset=utf-8"}
    assert_problem(gw.post("/api/v1/directory/import", who=TAX, data=csv_bytes, headers=csv_headers), 403)
    assert_problem(gw.post("/api/v1/directory/import", who=ENT_PLAIN, data=csv_bytes,
                           headers=csv_headers), 403)
    assert_problem(gw.get(f"/api/v1/enterprises/{NEW_CODE}/plan", who=MARKET), 404)
    r = gw.post("/api/v1/directory/import", who=MARKET, data=csv_bytes, headers=csv_headers)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["rows"], report["loaded"], report["rejected"]) == (8, 2, 6)
    assert (report["created"], report["updated"], report["unchanged"]) == (1, 1, 0)
    assert {(e["line"], e["column"]) for e in report["errors"]} == {
        (3, "统一社会信用代码"), (4, "所属乡镇"), (5, "联系电话"), (7, "规上企业"), (8, "企业名称"),
        (8, "企业规模"), (9, "统一社会信用代码")}
    solar = gw.get(f"/api/v1/enterprises/{NEW_CODE}/plan", who=MARKET)
    assert solar.status_code == 200 and solar.json()["monthly_cap"] == 3  # a key project
    # files the gateway or the service cannot take change nothing
    again = gw.post("/api/v1/directory/import", who=HEAD, data=csv_bytes, headers=csv_headers).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert_problem(gw.post("/api/v1/directory/import", who=HEAD, json={"csv": "x"}), 400, "Content-Type")
    assert_problem(gw.post("/api/v1/directory/import", who=HEAD, data=b"", headers=csv_headers),
                   422, "_body")
    missing_column = gw.post("/api/v1/directory/import", who=HEAD, headers=csv_headers,
                             data="企业名称,所属乡镇\n某公司,hongshi\n".encode())
    assert "统一社会信用代码" in assert_problem(missing_column, 422, "_body")["errors"]["_body"][0]
    assert_problem(gw.post("/api/v1/directory/import", who=HEAD, headers={"Content-Type": "text/csv"},
                           data=(DATA / "bad_rows.csv").read_text(encoding="utf-8").encode("gb18030")),
                   400, "_body")


# -- readiness and the document (GW-1) ------------------------------------------------------------

def test_readiness_counts_the_inspections_service_and_the_document_lists_its_routes(
        platform, start_service, db_factory):
    # rule: GW-1
    start_service(ScoringService, DB_URL=db_factory("scoring"))  # notify is not started
    gw = platform(appeals=True, RPC_TIMEOUT_SECONDS=1, GATEWAY_READY_TIMEOUT_SECONDS=0.5)
    ready = gw.get("/readyz")
    assert ready.status_code == 200, ready.text
    # a service not running is reported, and the gateway is still ready (its routes 503)
    assert ready.json()["services"] == {"appeals": "ok", "inspections": "ok", "scoring": "ok",
                                        "notify": "down"}

    spec = gw.get("/openapi.json").json()
    validate(spec)  # raises unless a valid OpenAPI 3 document
    served = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert OPERATIONS <= served, OPERATIONS - served
    paths = spec["paths"]
    assert paths["/api/v1/inspections/{inspection_id}/approve"]["post"]["x-roles"] == ["taskforce"]
    assert paths["/verify/{token}"]["get"]["security"] == []
    assert paths["/draws/{draw_id}"]["get"]["security"] == []
    assert "text/csv" in paths["/api/v1/directory/import"]["post"]["requestBody"]["content"]
    assert "image/png" in paths["/api/v1/inspections/{inspection_id}/entry-code.png"]["get"][
        "responses"]["200"]["content"]
    schemas = spec["components"]["schemas"]
    assert set(schemas["InspectionCreate"]["required"]) == {"enterprise_code", "kind", "planned_date"}
    assert schemas["InspectionCreate"]["properties"]["kind"]["enum"] == [
        "routine", "joint", "research", "emergency"]

    gw.services["inspections"].stop()  # the inspections service goes away
    time.sleep(1.1)  # the gateway asks the broker about a service at most once a second
    still = gw.get("/readyz")  # the gateway stays ready: one service down is not its failure
    assert still.status_code == 200
    assert still.json()["services"] == {"appeals": "ok", "inspections": "down", "scoring": "ok",
                                        "notify": "down"}
    down = gw.get("/api/v1/inspections", who=HEAD)
    body_ = assert_problem(down, 503)
    assert int(down.headers["Retry-After"]) >= 1
    assert "inspections" not in body_["detail"]  # no internals in the answer
    assert_problem(public(f"{gw.base}/verify/v1.abc.def"), 503)
