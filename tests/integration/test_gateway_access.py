"""Who may call which route and see which appeal, through the gateway (GW-2).

Every kind of caller is tried on every route of the v1 API, including another
enterprise's and another department's appeals: "not yours" is a 404, exactly
like "does not exist"; a role that may never call a route gets a 403 that
does not depend on the id. The gateway refuses first; the appeals service,
given the caller in the call context, refuses again.
"""
import pytest

from tests.conftest import ENTERPRISE_B
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    api, appeal_body, assert_problem, stack, who)

pytestmark = pytest.mark.integration

CALLERS = ("anonymous", "ent_a", "ent_b", "lead", "co", "other_dept", "taskforce", "admin",
           "channel_key", "dept_key")


def table(*statuses):
    return dict(zip(CALLERS, statuses))


def file_appeal(api, who, as_="ent_a", **overrides):
    body = appeal_body(**overrides)
    if as_.startswith("ent"):
        body.pop("enterprise_code")
    r = api.post("/api/v1/appeals", who=who[as_], json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_reading_one_appeal_and_the_ledger(api, who):
    # rule: GW-2
    mine = file_appeal(api, who)  # ENTERPRISE_A, permit → approval leads, market co-handles
    hotline = file_appeal(api, who, as_="channel_key", channel=None, enterprise_code=ENTERPRISE_B)
    assert hotline["channel"] == "hotline_12345"
    sees = {  # caller: (sees ENTERPRISE_A's mini-program appeal, sees the hotline's appeal)
        "ent_a": (True, False), "ent_b": (False, True), "lead": (True, True),
        "co": (True, True), "other_dept": (False, False), "taskforce": (True, True),
        "admin": (True, True), "channel_key": (False, True), "dept_key": (True, True),
    }
    missing = api.get("/api/v1/appeals/999999", who=who["taskforce"])
    assert_problem(missing, 404)
    for caller in CALLERS:
        listed = api.get("/api/v1/appeals", who=who[caller])
        one = api.get(f"/api/v1/appeals/{mine['id']}", who=who[caller])
        other = api.get(f"/api/v1/appeals/{hotline['id']}", who=who[caller])
        if caller == "anonymous":
            for r in (listed, one, other):
                assert_problem(r, 401)
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
            continue
        assert listed.status_code == 200, (caller, listed.text)
        ids = {a["id"] for a in listed.json()["items"]}
        assert (mine["id"] in ids, hotline["id"] in ids) == sees[caller], caller
        for appeal, response, visible in ((mine, one, sees[caller][0]),
                                          (hotline, other, sees[caller][1])):
            if visible:
                assert response.status_code == 200, (caller, response.text)
                assert response.json()["id"] == appeal["id"]
                assert [h["action"] for h in response.json()["history"]][:2] == ["create", "assign"]
            else:  # not yours looks exactly like not there
                body = assert_problem(response, 404)
                assert (body["title"], body["detail"]) == (missing.json()["title"],
                                                           missing.json()["detail"]), caller


def test_filing_an_appeal_as_every_caller(api, who):
    # rule: GW-2
    for caller in CALLERS:
        body = appeal_body(title=f"诉求 of {caller}")
        if caller.startswith("ent"):
            body.pop("enterprise_code")  # taken from the token
        if caller == "channel_key":
            body.pop("channel")  # taken from the key
        if caller in ("lead", "co", "other_dept", "dept_key"):
            body["channel"] = "complaint_hotline"  # a department enters what staff took down
        r = api.post("/api/v1/appeals", who=who[caller], json=body)
        if caller == "anonymous":
            assert_problem(r, 401)
            continue
        assert r.status_code == 201, (caller, r.text)
        made = r.json()
        assert r.headers["Location"] == f"/api/v1/appeals/{made['id']}"
        if caller == "ent_b":
            assert made["enterprise_code"] == ENTERPRISE_B
        if caller == "channel_key":
            assert made["channel"] == "hotline_12345"
    # an enterprise files for itself only, a channel key through its own channel only
    r = api.post("/api/v1/appeals", who=who["ent_a"], json=appeal_body(enterprise_code=ENTERPRISE_B))
    assert_problem(r, 422, "enterprise_code")
    r = api.post("/api/v1/appeals", who=who["channel_key"], json=appeal_body(channel="media"))
    assert_problem(r, 422, "channel")
    everything = api.get("/api/v1/appeals", who=who["taskforce"]).json()["items"]
    assert len(everything) == len(CALLERS) - 1


# The closed loop (APP-6): who may take each action on ENTERPRISE_A's permit
# appeal (approval leads, market co-handles).
#                        anon ent_a ent_b lead  co  other  tf  admin chan dkey
ACTIONS = {
    "assign": (table(401, 403, 403, 403, 403, 403, 200, 200, 403, 403),
               "assigned", {"department": "market", "tier": "red"}),
    "accept": (table(401, 403, 403, 200, 403, 404, 403, 403, 403, 200), "assigned", {}),
    "reply": (table(401, 403, 403, 200, 403, 404, 403, 403, 403, 200),
              "accepted", {"content": "已办结, 请查收"}),
    "transfer": (table(401, 403, 403, 200, 403, 404, 200, 200, 403, 200),
                 "assigned", {"department": "housing", "reason": "属住建职责"}),
    "return": (table(401, 403, 403, 200, 403, 404, 403, 403, 403, 200),
               "assigned", {"reason": "非本单位职责"}),
    "extend": (table(401, 403, 403, 200, 403, 404, 200, 200, 403, 200),
               "assigned", {"days": 3, "reason": "需现场核查"}),
    "approve_extension": (table(401, 403, 403, 403, 403, 403, 200, 200, 403, 403),
                          "extension asked", {}),
    "reject_extension": (table(401, 403, 403, 403, 403, 403, 200, 200, 403, 403),
                         "extension asked", {"note": "理由不足"}),
    "instruct": (table(401, 403, 403, 403, 403, 403, 200, 200, 403, 403),
                 "assigned", {"content": "请加快办理 —— 县长"}),
    "feedback": (table(401, 200, 404, 403, 403, 403, 403, 403, 403, 403),
                 "replied", {"rating": 5, "comment": "满意"}),
    "reopen": (table(401, 403, 403, 403, 403, 403, 200, 200, 403, 403),
               "closed", {"reason": "企业再次反映"}),
}


def prepared(api, who, state):
    """A fresh appeal of ENTERPRISE_A in the state the action starts from."""
    a = file_appeal(api, who)
    assert a["status"] == "assigned" and a["lead_department"] == "approval"
    steps = {"assigned": [], "extension asked": [("lead", "extend", {"days": 2, "reason": "核查"})],
             "accepted": [("lead", "accept", {})],
             "replied": [("lead", "accept", {}), ("lead", "reply", {"content": "已处理"})],
             "closed": [("lead", "accept", {}), ("lead", "reply", {"content": "已处理"}),
                        ("ent_a", "feedback", {"rating": 4})]}[state]
    for caller, action, body in steps:
        r = api.post(f"/api/v1/appeals/{a['id']}/{action}", who=who[caller], json=body)
        assert r.status_code == 200, r.text
        a = r.json()
    return a


def check_effect(action, caller, before, after):
    if action == "assign":
        assert (after["status"], after["lead_department"], after["tier"]) == ("assigned", "market", "red")
    elif action == "accept":
        assert after["status"] == "accepted"
    elif action == "reply":
        assert after["status"] == "replied" and after["reply_content"] == "已办结, 请查收"
    elif action == "transfer":
        assert (after["status"], after["lead_department"]) == ("assigned", "housing")
    elif action == "return":
        assert (after["status"], after["lead_department"]) == ("received", None)
    elif action == "extend" and caller in ("lead", "dept_key"):  # a department asks
        assert after["extension_request"]["days"] == 3 and after["due_at"] == before["due_at"]
    elif action in ("extend", "approve_extension"):  # the task force grants
        assert after["extension_request"] is None and after["due_at"] > before["due_at"]
    elif action == "reject_extension":
        assert after["extension_request"] is None and after["due_at"] == before["due_at"]
    elif action == "instruct":
        assert after["history"][-1]["action"] == "instruct"
    elif action == "feedback":
        assert (after["status"], after["rating"]) == ("closed", 5)
    elif action == "reopen":
        assert after["status"] == "accepted" and after["reopen_count"] == 1


def test_every_caller_on_every_action(api, who, subtests):
    # rule: GW-2
    for action, (expected, state, body) in ACTIONS.items():
        with subtests.test(action=action):
            untouched = prepared(api, who, state)
            for caller in (c for c in CALLERS if expected[c] != 200):
                r = api.post(f"/api/v1/appeals/{untouched['id']}/{action}", who=who[caller],
                             json=body)
                assert_problem(r, expected[caller])
            after = api.get(f"/api/v1/appeals/{untouched['id']}", who=who["taskforce"]).json()
            assert (after["status"], after["updated_at"], len(after["history"])) == (
                untouched["status"], untouched["updated_at"], len(untouched["history"]))
            for caller in (c for c in CALLERS if expected[c] == 200):
                before = prepared(api, who, state)
                r = api.post(f"/api/v1/appeals/{before['id']}/{action}", who=who[caller],
                             json=body)
                assert r.status_code == 200, (caller, r.text)
                check_effect(action, caller, before, r.json())


def test_reports_reference_and_keys_by_role(api, who):
    # rule: GW-2
    file_appeal(api, who)
    reporters = table(401, 403, 403, 200, 200, 200, 200, 200, 403, 200)
    anyone = table(401, 200, 200, 200, 200, 200, 200, 200, 200, 200)
    admins = table(401, 403, 403, 403, 403, 403, 403, 200, 403, 403)
    rows = {}
    for caller in CALLERS:
        export = api.get("/api/v1/appeals/export?format=csv", who=who[caller])
        stats = api.get("/api/v1/appeals/stats?month=2026-01", who=who[caller])
        reference = api.get("/api/v1/reference", who=who[caller])
        listed = api.get("/api/v1/api-keys", who=who[caller])
        made = api.post("/api/v1/api-keys", who=who[caller],
                        json={"kind": "channel", "code": "media", "label": "媒体问政平台"})
        for r, allowed, ok in ((export, reporters, 200), (stats, reporters, 200),
                               (reference, anyone, 200), (listed, admins, 200),
                               (made, admins, 201)):
            if allowed[caller] == 200:
                assert r.status_code == ok, (caller, r.url, r.text)
            else:
                assert_problem(r, allowed[caller])
        if reporters[caller] == 200:
            rows[caller] = int(export.headers["X-Row-Count"])
            assert export.headers["Content-Type"].startswith("text/csv")
            assert export.content.decode("utf-8-sig").count("\n") == rows[caller] + 1
    # the ledger a department exports is its own (GW-2 in APP-8's reports)
    assert rows == {"lead": 1, "co": 1, "other_dept": 0, "taskforce": 1, "admin": 1, "dept_key": 1}
    key_id = api.get("/api/v1/api-keys", who=who["admin"]).json()["items"][0]["id"]
    for caller in CALLERS:
        r = api.delete(f"/api/v1/api-keys/{key_id}", who=who[caller])
        if caller == "admin":
            assert r.status_code == 204
        else:
            assert_problem(r, admins[caller])


def test_reference_and_the_contract_fields(api, who):
    # rule: GW-1 — the codes a form needs, and every field v1 promises is really served
    from services.appeals.schemas import Appeal, AppealSummary
    ref = api.get("/api/v1/reference", who=who["ent_a"]).json()
    assert {"permit", "tax"} <= {c["code"] for c in ref["categories"]}
    assert {"hongshi", "park"} <= {t["code"] for t in ref["towns"]}
    assert {"approval", "market"} <= {d["code"] for d in ref["departments"]}
    assert {"mini_program", "hotline_12345", "referral"} <= {c["code"] for c in ref["channels"]}
    assert [t["code"] for t in ref["tiers"]] == ["red", "yellow", "blue"]
    assert ref["statuses"] == ["received", "assigned", "accepted", "replied", "closed"]
    assert "feedback" in ref["actions"]
    a = file_appeal(api, who)
    one = api.get(f"/api/v1/appeals/{a['id']}", who=who["ent_a"]).json()
    assert set(one) == set(Appeal().fields)
    assert set(one["history"][0]) == {"at", "actor", "action", "from_status", "to_status", "note"}
    page = api.get("/api/v1/appeals", who=who["ent_a"]).json()
    assert set(page) == {"items", "next_cursor"}
    assert set(page["items"][0]) == set(AppealSummary().fields)
