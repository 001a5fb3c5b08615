"""The appeals side's management routes through the gateway: the routing table
with its history (APP-2), a department's three lists as JSON, CSV and XLSX
(APP-8), rectification lists from findings to closing with evidence (APP-9)."""
import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from kernel.calendar import SHANGHAI
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    api, appeal_body, assert_problem, stack, who)

pytestmark = pytest.mark.integration

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_the_task_force_keeps_the_routing_table_and_its_history(api, who):
    # rule: APP-2
    tf = who["taskforce"]
    table = api.get("/api/v1/routes", who=tf)
    assert table.status_code == 200
    assert {"category": "permit", "town": "*", "lead_department": "approval",
            "co_departments": ["market"]} in table.json()
    # only the task force (and admins) may read or change it
    for name in ("lead", "dept_key", "ent_a", "channel_key"):
        assert_problem(api.get("/api/v1/routes", who=who[name]), 403)
        assert_problem(api.post("/api/v1/routes", who=who[name], json={
            "category": "permit", "town": "moshi", "lead_department": "tax"}), 403)
        assert_problem(api("PUT", "/api/v1/routes/permit/*", who=who[name],
                           json={"lead_department": "tax"}), 403)
        assert_problem(api.delete("/api/v1/routes/permit/*", who=who[name]), 403)
        assert_problem(api.get("/api/v1/routes/history", who=who[name]), 403)
    assert_problem(api.get("/api/v1/routes"), 401)

    # add: category × town → lead and co-handlers; new appeals follow it at once
    route = {"category": "permit", "town": "moshi", "lead_department": "market",
             "co_departments": ["tax"]}
    added = api.post("/api/v1/routes", who=tf, json=route)
    assert added.status_code == 201, added.text
    assert added.json() == route and added.headers["Location"] == "/api/v1/routes/permit/moshi"
    filed = api.post("/api/v1/appeals", who=who["ent_a"],
                     json=appeal_body(enterprise_code=None, town="moshi")).json()
    assert (filed["lead_department"], filed["co_departments"]) == ("market", ["tax"])
    assert_problem(api.post("/api/v1/routes", who=tf, json=route), 409)  # exists: change it

    # refusals name each field and change nothing
    for body, field in (({**route, "lead_department": "nope"}, "lead_department"),
                        ({**route, "town": "atlantis"}, "town"),
                        ({**route, "category": "no such!"}, "category"),
                        ({**route, "co_departments": ["nope"]}, "co_departments"),
                        ({**route, "extra": 1}, "extra"),
                        ({"category": "permit", "town": "park"}, "lead_department")):
        assert_problem(api.post("/api/v1/routes", who=tf, json=body), 422, field)
    assert_problem(api("PUT", "/api/v1/routes/permit/moshi", who=tf,
                       json={"lead_department": "\x00"}), 422, "lead_department")

    # change, then retire
    changed = api("PUT", "/api/v1/routes/permit/moshi", who=tf,
                  json={"lead_department": "tax", "co_departments": []})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"category": "permit", "town": "moshi", "lead_department": "tax",
                              "co_departments": []}
    assert_problem(api("PUT", "/api/v1/routes/permit/park", who=tf,
                       json={"lead_department": "tax"}), 404)  # change is not add
    assert api.delete("/api/v1/routes/permit/moshi", who=tf).status_code == 204
    assert_problem(api.delete("/api/v1/routes/permit/moshi", who=tf), 404)
    assert not [r for r in api.get("/api/v1/routes", who=tf).json()
                if (r["category"], r["town"]) == ("permit", "moshi")]

    # every change in the history, newest first, with what it was before and who did it
    history = api.get("/api/v1/routes/history", who=tf,
                      params={"category": "permit", "town": "moshi"}).json()
    assert [(h["change"], h["lead_department"], h["before"]) for h in history] == [
        ("retired", None, {"lead_department": "tax", "co_departments": []}),
        ("changed", "tax", {"lead_department": "market", "co_departments": ["tax"]}),
        ("added", "market", None)]
    assert {h["actor"] for h in history} == {"taskforce:tf-1"}
    assert history[0]["id"] > history[1]["id"] > history[2]["id"]
    assert api.get("/api/v1/routes/history", who=tf, params={"town": "park"}).json() == []
    assert_problem(api.get("/api/v1/routes/history", who=tf, params={"limit": 0}), 422, "limit")


def _csv(response):
    assert response.headers["Content-Type"].startswith("text/csv"), response.text
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_a_department_has_its_three_lists_for_a_period_in_three_formats(api, who):
    # rule: APP-8
    ent, tf = who["ent_a"], who["taskforce"]
    ids = [api.post("/api/v1/appeals", who=ent, json=appeal_body(
        enterprise_code=None, title=f"第{n}件")).json()["id"] for n in range(3)]  # approval leads
    other = api.post("/api/v1/appeals", who=ent, json=appeal_body(
        enterprise_code=None, category="tax")).json()["id"]  # tax leads
    item = api.post("/api/v1/rectification-lists", who=tf, json={
        "source": "第三方评估", "findings": [{
            "problem": "涉企收费公示不全", "lead_department": "market",
            "co_departments": ["approval"], "responsible_leader": "李副县长",
            "deadline": "2099-12-31"}]}).json()["items"][0]

    tasks = api.get("/api/v1/lists/tasks", who=who["lead"])  # a department: its own by default
    assert tasks.status_code == 200, tasks.text
    body = tasks.json()
    assert (body["list"], body["department"]) == ("tasks", "approval")
    assert sorted(r["id"] for r in body["rows"]) == ids and other not in [r["id"] for r in body["rows"]]
    assert {(r["kind"], r["role"]) for r in body["rows"]} == {("appeal", "lead")}

    duties = api.get("/api/v1/lists/responsibilities", who=tf,
                     params={"department": "approval"}).json()["rows"]
    assert {(r["kind"], r["id"], r["role"]) for r in duties} == {
        ("appeal", i, "lead") for i in ids} | {("rectification", item["id"], "co-handling")}
    assert [r["responsible_leader"] for r in duties if r["kind"] == "rectification"] == ["李副县长"]
    market = api.get("/api/v1/lists/tasks", who=tf, params={"department": "market"}).json()["rows"]
    assert [(r["kind"], r["id"]) for r in market] == [("rectification", item["id"])]

    deadlines = api.get("/api/v1/lists/deadlines", who=who["lead"]).json()["rows"]
    dues = [r["due"] for r in deadlines]
    assert dues == sorted(dues) and deadlines[-1]["kind"] == "rectification"

    # the period: by arrival for tasks, by deadline for the deadline list
    today = dt.datetime.now(SHANGHAI).date()
    yesterday, tomorrow = today - dt.timedelta(days=1), today + dt.timedelta(days=1)
    assert api.get("/api/v1/lists/tasks", who=who["lead"], params={
        "period_from": str(tomorrow)}).json()["rows"] == []
    assert len(api.get("/api/v1/lists/tasks", who=who["lead"], params={
        "period_from": str(yesterday), "period_to": str(today)}).json()["rows"]) == 3
    far = api.get("/api/v1/lists/deadlines", who=who["lead"], params={
        "period_from": "2099-12-01", "period_to": "2099-12-31"}).json()["rows"]
    assert [(r["kind"], r["id"]) for r in far] == [("rectification", item["id"])]

    # CSV and XLSX: the same rows
    rows = _csv(api.get("/api/v1/lists/tasks", who=who["lead"], params={"format": "csv"}))
    assert rows[0][:3] == ["类型", "编号", "事项"] and sorted(int(r[1]) for r in rows[1:]) == ids
    xlsx = api.get("/api/v1/lists/responsibilities", who=who["lead"], params={"format": "xlsx"})
    assert xlsx.headers["Content-Type"] == XLSX and xlsx.headers["X-Row-Count"] == "4"
    assert "attachment" in xlsx.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.title == "责任清单" and sheet.max_row == 5

    # refusals: another department's lists are not found; bad filters are named
    assert_problem(api.get("/api/v1/lists/tasks", who=who["other_dept"],
                           params={"department": "approval"}), 404)
    assert_problem(api.get("/api/v1/lists/tasks", who=ent), 403)
    assert_problem(api.get("/api/v1/lists/tasks", who=tf), 422, "department")
    assert_problem(api.get("/api/v1/lists/tasks", who=tf, params={"department": "nope"}),
                   422, "department")
    assert_problem(api.get("/api/v1/lists/tasks", who=who["lead"], params={"format": "pdf"}),
                   422, "format")
    assert_problem(api.get("/api/v1/lists/tasks", who=who["lead"], params={
        "period_from": str(today), "period_to": str(yesterday)}), 422, "period_to")
    assert_problem(api.get("/api/v1/lists/everything", who=who["lead"]), 404)


def test_rectification_lists_from_findings_to_closing_with_evidence(api, who):
    # rule: APP-9
    tf = who["taskforce"]
    finding = {"problem": "审批时限压缩不到位", "measure": "并联审批", "lead_department": "approval",
               "responsible_leader": "王副县长", "co_departments": ["market"],
               "deadline": "2099-12-31"}
    made = api.post("/api/v1/rectification-lists", who=tf, json={
        "source": "2026年营商环境红黑榜评价", "findings": [
            finding, {**finding, "problem": "涉企收费公示不全", "lead_department": "finance",
                      "co_departments": [], "responsible_leader": "李副县长"}]})
    assert made.status_code == 201, made.text
    rlist = made.json()
    assert made.headers["Location"] == f"/api/v1/rectification-lists/{rlist['id']}"
    assert rlist["title"] == rlist["source"] == "2026年营商环境红黑榜评价"
    assert rlist["progress"] == {"total": 2, "done": 0, "open": 2, "overdue": 0,
                                 "done_on_time": 0, "percent_done": 0.0}
    mine, theirs = rlist["items"]
    assert (mine["lead_department"], mine["responsible_leader"], mine["deadline"],
            mine["status"], mine["list_id"]) == ("approval", "王副县长", "2099-12-31", "open",
                                                 rlist["id"])

    # only the task force makes lists; bad findings are named and nothing is made
    assert_problem(api.post("/api/v1/rectification-lists", who=who["lead"],
                            json={"source": "x", "findings": [finding]}), 403)
    for body, field in (({"source": "x", "findings": []}, "findings"),
                        ({"source": "x", "findings": [{**finding, "lead_department": "nope"}]},
                         "findings.0.lead_department"),
                        ({"source": "x", "findings": [{**finding, "deadline": "someday"}]},
                         "findings.0.deadline"),
                        ({"findings": [finding]}, "source")):
        assert_problem(api.post("/api/v1/rectification-lists", who=tf, json=body), 422, field)
    assert len(api.get("/api/v1/rectification-lists", who=tf).json()) == 1

    # a department sees the lists with its items, and only its items
    seen = api.get(f"/api/v1/rectification-lists/{rlist['id']}", who=who["lead"]).json()
    assert [i["id"] for i in seen["items"]] == [mine["id"]] and seen["progress"]["total"] == 1
    co = api.get("/api/v1/rectification-lists", who=who["co"]).json()  # market co-handles
    assert [[i["id"] for i in r["items"]] for r in co] == [[mine["id"]]]
    assert api.get("/api/v1/rectification-lists", who=who["other_dept"]).json() == []
    assert_problem(api.get(f"/api/v1/rectification-lists/{rlist['id']}", who=who["other_dept"]), 404)
    assert_problem(api.get("/api/v1/rectification-lists/999999", who=tf), 404)
    assert_problem(api.get("/api/v1/rectification-lists", who=who["ent_a"]), 403)

    # closing (销号) needs the evidence; another department's item is not found
    close = f"/api/v1/rectification-items/{mine['id']}/close"
    evidence = [{"name": "整改报告.pdf", "url": "https://files.example.cn/r/1.pdf"}]
    assert_problem(api.post(close, who=who["lead"], json={"note": "已压缩"}), 422, "evidence")
    assert_problem(api.post(close, who=who["lead"], json={"note": "已压缩", "evidence": []}),
                   422, "evidence")
    assert_problem(api.post(close, who=who["lead"], json={
        "note": "已压缩", "evidence": [{"name": "x", "url": "javascript:alert(1)"}]}),
        422, "evidence.0.url")
    assert_problem(api.post(close, who=who["other_dept"],
                            json={"note": "已压缩", "evidence": evidence}), 404)
    assert_problem(api.post(close, who=who["co"],
                            json={"note": "已压缩", "evidence": evidence}), 403)  # co-handles only
    closed = api.post(close, who=who["lead"], json={"note": "已压缩至3个工作日", "evidence": evidence})
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["on_time"], closed.json()["evidence"],
            closed.json()["done_note"]) == ("done", True, evidence, "已压缩至3个工作日")
    assert_problem(api.post(close, who=who["lead"], json={"note": "again", "evidence": evidence}), 409)

    progress = api.get(f"/api/v1/rectification-lists/{rlist['id']}", who=tf).json()["progress"]
    assert progress == {"total": 2, "done": 1, "open": 1, "overdue": 0, "done_on_time": 1,
                        "percent_done": 50.0}
