"""The scoring routes of the gateway (评价, SCO-1 … SCO-7).

A real scoring container and a real gateway on the real broker and database
(SQLite, or PostgreSQL with QQ_TEST_DB=postgres); the tests speak HTTP to the
gateway as enterprises' phones, departments, the task force and a screen would.
"""
import io
import json

import eventlet
import pytest
import requests
from openpyxl import load_workbook

from gateway.service import GatewayService
from kernel.calendar import WorkingCalendar, utcnow
from services.scoring.service import ScoringService
from tests.conftest import ENTERPRISE_A, ENTERPRISE_B, free_port
from tests.integration.test_gateway_kit import SECRET, UNLIMITED, Api, assert_problem, bearer

pytestmark = pytest.mark.integration

ENT_A = bearer("enterprise", ENTERPRISE_A, sub="user-a")
ENT_B = bearer("enterprise", ENTERPRISE_B, sub="user-b")
APPROVAL = bearer("department", "approval", sub="clerk-approval")
MARKET = bearer("department", "market", sub="clerk-market")
TASKFORCE = bearer("taskforce", "taskforce", sub="tf-1")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# What these routes add to the OpenAPI document (test_gateway_ops checks the whole).
OPERATIONS = {
    ("/api/v1/subjects", "get"), ("/api/v1/subjects/{code}/qr.png", "get"),
    ("/api/v1/subjects/{code}/qr.svg", "get"), ("/rate/{code}", "get"),
    ("/api/v1/ratings", "post"), ("/api/v1/ratings", "get"), ("/api/v1/ratings/{rating_id}", "get"),
    ("/api/v1/followups", "get"), ("/api/v1/followups/{followup_id}", "get"),
    ("/api/v1/followups/{followup_id}/{action}", "post"), ("/api/v1/cards", "post"),
    ("/api/v1/cards/{card_id}", "get"), ("/api/v1/cards/{card_id}/{action}", "post"),
    ("/api/v1/rankings/current", "get"), ("/api/v1/rankings", "post"),
    ("/api/v1/rankings/{ranking_id}", "get"), ("/api/v1/rankings/{ranking_id}/verify", "get"),
    ("/api/v1/sessions", "post"), ("/api/v1/sessions/{session_id}/scores", "post"),
    ("/api/v1/sessions/{session_id}", "get"), ("/api/v1/sessions/{session_id}/close", "post"),
    ("/api/v1/sessions/{session_id}/stream", "get"), ("/api/v1/notices/{month}", "get"),
    ("/api/v1/notices/{month}/notice.xlsx", "get"), ("/notices/{month}", "get"),
    ("/api/v1/samples", "post"), ("/api/v1/samples/{sample_id}", "get"),
    ("/api/v1/indicators/{period}", "get"), ("/api/v1/indicators/{period}/{code}", "post"),
    ("/api/v1/sessions/{session_id}/talks", "get"),
}


@pytest.fixture
def platform(db_factory, start_service):
    """A gateway in front of a fresh scoring service: rankings of 2 best and
    1 worst among subjects with at least 3 ratings."""
    address = f"127.0.0.1:{free_port()}"
    scoring = start_service(ScoringService, DB_URL=db_factory("scoring"), SCO_MIN_RATINGS=3,
                            SCO_BEST=2, SCO_WORST=1, SCO_SAMPLE_MIN_RATINGS=2, SCO_BOTTOM_GROUP=2,
                            SCO_PUBLIC_BASE_URL=f"http://{address}")
    api = Api(start_service(GatewayService, WEB_SERVER_ADDRESS=address,
                            DB_URL=db_factory("gateway"), GATEWAY_JWT_SECRET=SECRET, **UNLIMITED))
    api.scoring = scoring
    yield api
    api.close()


def rate(api, subject, ticket, score, who=ENT_A, **extra):
    return api.post("/api/v1/ratings", who=who, json={
        "subject_code": subject, "service_event": ticket, "score": score, **extra})


def test_a_rating_counts_once_and_a_bad_one_is_followed_up(platform, event_tap):
    # rule: SCO-1
    tap = event_tap("scoring", "rating.bad")
    first = rate(platform, "win_approval_1", "T-001", 1, comment="材料退回三次")
    assert first.status_code == 201, first.text
    rating = first.json()
    assert rating["enterprise_code"] == ENTERPRISE_A and rating["source"] == "qr"
    assert rating["followup_id"]
    # the same rating again answers the first one; another score is refused
    again = rate(platform, "win_approval_1", "T-001", 1, comment="材料退回三次")
    assert again.status_code == 200 and again.json()["id"] == rating["id"]
    assert_problem(rate(platform, "win_approval_1", "T-001", 5), 409)
    # another service event of the same subject is another rating
    assert rate(platform, "win_approval_1", "T-002", 4).status_code == 201
    # refusals name each field and change nothing
    body = assert_problem(platform.post("/api/v1/ratings", who=ENT_A, json={
        "subject_code": "win_approval_1", "service_event": "T-003", "score": 6, "extra": 1}), 422)
    assert {"score", "extra"} <= set(body["errors"])
    assert_problem(rate(platform, "win_approval_1", "T-003", "5"), 422, "score")
    assert_problem(rate(platform, "win_approval_1", "T-003", True), 422, "score")
    assert_problem(rate(platform, "nobody", "T-003", 5), 422, "subject_code")
    assert_problem(rate(platform, "win_approval_1", "T-003", 5, who=APPROVAL), 403)
    assert_problem(rate(platform, "win_approval_1", "T-003", 5, who={}), 401)
    listed = platform.get("/api/v1/ratings", who=TASKFORCE).json()
    assert sorted(r["service_event"] for r in listed) == ["qr:T-001", "qr:T-002"]

    tap.drain(until=lambda r: len(r) >= 1)
    bad = tap.of_type("rating.bad")
    assert len(bad) == 1 and bad[0]["data"]["followup_id"] == rating["followup_id"]
    assert bad[0]["data"]["department"] == "approval"

    # the follow-up: the unit verifies and rectifies, the task force closes with a note
    path = f"/api/v1/followups/{rating['followup_id']}"
    assert_problem(platform.post(path + "/verify", who=MARKET, json={}), 404)  # not its own
    assert_problem(platform.get(path, who=ENT_A), 403)
    assert_problem(platform.post(path + "/close", who=TASKFORCE, json={"note": "x"}), 409)
    assert platform.post(path + "/verify", who=APPROVAL, json={}).json()["status"] == "verified"
    assert_problem(platform.post(path + "/close", who=TASKFORCE, json={"note": "x"}), 409)
    assert_problem(platform.post(path + "/rectify", who=APPROVAL, json={"note": 3}), 422, "note")
    assert platform.post(path + "/rectify", who=APPROVAL,
                         json={"note": "窗口一次性告知"}).json()["status"] == "rectified"
    assert_problem(platform.post(path + "/close", who=APPROVAL, json={"note": "x"}), 403)
    assert_problem(platform.post(path + "/close", who=TASKFORCE, json={}), 422, "note")
    closed = platform.post(path + "/close", who=TASKFORCE, json={"note": "企业回访满意"}).json()
    assert closed["status"] == "closed" and not closed["cleared"]
    assert [h["action"] for h in closed["history"]] == ["open", "verify", "rectify", "close"]
    assert_problem(platform.post(path + "/bogus", who=TASKFORCE, json={}), 422, "action")


def test_a_groundless_complaint_clears_the_name_in_the_record(platform):
    # rule: SCO-1 (澄清正名)
    rating = rate(platform, "clerk_approval_1_1", "T-9", 2).json()
    path = f"/api/v1/followups/{rating['followup_id']}"
    assert_problem(platform.post(path + "/groundless", who=APPROVAL, json={"note": "x"}), 403)
    assert_problem(platform.post(path + "/groundless", who=TASKFORCE, json={"note": "  "}), 422,
                   "note")
    cleared = platform.post(path + "/groundless", who=TASKFORCE,
                            json={"note": "经核实投诉不实，予以澄清正名"}).json()
    assert cleared["status"] == "groundless" and cleared["cleared"]
    assert cleared["clearing_note"] == "经核实投诉不实，予以澄清正名"
    assert cleared["history"][-1]["to_status"] == "groundless"
    assert_problem(platform.post(path + "/verify", who=APPROVAL, json={}), 409)


def test_an_enterprise_sees_only_its_own_ratings_and_a_department_its_own(platform):
    # rule: GW-2
    mine = rate(platform, "win_approval_1", "A-1", 5).json()
    theirs = rate(platform, "win_market_1", "B-1", 4, who=ENT_B).json()
    assert_problem(platform.get(f"/api/v1/ratings/{mine['id']}", who=ENT_B), 404)
    assert_problem(platform.get(f"/api/v1/ratings/{theirs['id']}", who=ENT_A), 404)
    assert_problem(platform.get("/api/v1/ratings/999999", who=ENT_A), 404)  # same as not yours
    assert [r["id"] for r in platform.get("/api/v1/ratings", who=ENT_B).json()] == [theirs["id"]]
    assert [r["id"] for r in platform.get("/api/v1/ratings", who=APPROVAL).json()] == [mine["id"]]
    assert platform.get(f"/api/v1/ratings/{mine['id']}", who=APPROVAL).status_code == 200
    assert_problem(platform.get(f"/api/v1/ratings/{mine['id']}", who=MARKET), 404)
    assert len(platform.get("/api/v1/ratings", who=TASKFORCE).json()) == 2


# win_tax_2, win_approval_1 and win_approval_2 all average 4.667: more ratings
# first, then the code; win_hr_1 has 2 ratings, under the minimum of 3.
SCORES = {"win_approval_1": [5, 5, 4], "win_approval_2": [5, 4, 5], "win_tax_1": [4, 4, 4, 4],
          "win_tax_2": [5, 4, 5, 4, 5, 5], "win_market_1": [2, 2, 3], "win_hr_1": [5, 5]}


def test_a_published_ranking_is_frozen_and_recomputes_to_itself(platform, event_tap):
    # rule: SCO-3
    tap = event_tap("scoring", "ranking.published")
    for subject, scores in SCORES.items():
        for i, score in enumerate(scores):
            who = ENT_A if i % 2 else ENT_B
            assert rate(platform, subject, f"{subject}-{i}", score, who=who).status_code == 201
    period = platform.get("/api/v1/ratings", who=TASKFORCE).json()[0]["period"]
    current = platform.get(f"/api/v1/rankings/current?kind=windows_monthly&period={period}",
                           who=ENT_A).json()
    assert [r["subject_code"] for r in current["ranked"]] == [
        "win_tax_2", "win_approval_1", "win_approval_2", "win_tax_1", "win_market_1"]
    assert [r["place"] for r in current["ranked"]] == [1, 2, 3, 4, 5]
    assert current["best"] == ["win_tax_2", "win_approval_1"] and current["worst"] == ["win_market_1"]
    assert [(r["subject_code"], r["ratings"]) for r in current["unranked"]] == [("win_hr_1", 2)]
    assert current["min_ratings"] == 3 and current["formula"] and current["tie_break"]

    body = {"kind": "windows_monthly", "period": period}
    assert_problem(platform.post("/api/v1/rankings", who=APPROVAL, json=body), 403)
    assert_problem(platform.post("/api/v1/rankings", who=TASKFORCE,
                                 json={**body, "period": period[:4]}), 422, "period")
    assert_problem(platform.post("/api/v1/rankings", who=TASKFORCE,
                                 json={**body, "kind": "best_cafes"}), 422, "kind")
    published = platform.post("/api/v1/rankings", who=TASKFORCE, json=body)
    assert published.status_code == 201, published.text
    v1 = published.json()
    assert v1["version"] == 1 and v1["replaces"] is None
    assert {k: v1[k] for k in ("ranked", "unranked", "best", "worst", "digest")} == \
        {k: current[k] for k in ("ranked", "unranked", "best", "worst", "digest")}
    check = platform.get(f"/api/v1/rankings/{v1['id']}/verify").json()  # public
    assert check["matches"] and check["recomputed_digest"] == v1["digest"]
    tap.drain(until=lambda r: len(r) >= 1)
    assert tap.of_type("ranking.published")[0]["data"]["digest"] == v1["digest"]

    # published once: publishing again must name what it replaces, and why
    assert_problem(platform.post("/api/v1/rankings", who=TASKFORCE, json=body), 409)
    assert_problem(platform.post("/api/v1/rankings", who=TASKFORCE,
                                 json={**body, "replaces": v1["id"]}), 422, "reason")
    # a late rating: the frozen ranking no longer matches the raw data …
    assert rate(platform, "win_hr_1", "late", 1).status_code == 201
    assert platform.get(f"/api/v1/rankings/{v1['id']}/verify").json()["matches"] is False
    # … and a correction is a new version naming it; the old one is unchanged
    v2 = platform.post("/api/v1/rankings", who=TASKFORCE,
                       json={**body, "replaces": v1["id"], "reason": "补录迟到评价"}).json()
    assert (v2["version"], v2["replaces"]) == (2, v1["id"])
    # win_hr_1 now has 3 ratings (5, 5, 1 → 3.667): ranked, fifth
    assert [r["subject_code"] for r in v2["ranked"]][4] == "win_hr_1" and v2["unranked"] == []
    assert v2["digest"] != v1["digest"]
    assert platform.get(f"/api/v1/rankings/{v1['id']}", who=ENT_A).json() == v1
    assert platform.get(f"/api/v1/rankings/{v2['id']}/verify").json()["matches"]
    assert_problem(platform.get("/api/v1/rankings/999999/verify"), 404)


def test_cards_are_investigated_and_revoked_with_history(platform, event_tap):
    # rule: SCO-2
    tap = event_tap("scoring", "card.issued")
    body = {"colour": "yellow", "subject_code": "win_tax_1", "reason": "<b>推诿</b>企业办事"}
    assert_problem(platform.post("/api/v1/cards", who=APPROVAL, json=body), 403)
    assert_problem(platform.post("/api/v1/cards", who=TASKFORCE,
                                 json={**body, "colour": "blue"}), 422, "colour")
    card = platform.post("/api/v1/cards", who=TASKFORCE, json=body)
    assert card.status_code == 201, card.text
    card = card.json()
    assert card["status"] == "investigating" and card["department"] == "tax"
    path = f"/api/v1/cards/{card['id']}"
    assert platform.get(path, who=bearer("department", "tax")).status_code == 200
    assert_problem(platform.get(path, who=MARKET), 404)
    assert_problem(platform.post(path + "/find", who=TASKFORCE, json={}), 422, "note")
    assert platform.post(path + "/find", who=TASKFORCE,
                         json={"note": "属实，已批评教育"}).json()["status"] == "found"
    revoked = platform.post(path + "/revoke", who=TASKFORCE, json={"note": "复核撤销"}).json()
    assert revoked["status"] == "revoked" and revoked["revoked_reason"] == "复核撤销"
    assert [h["action"] for h in revoked["history"]] == ["issue", "find", "revoke"]
    assert_problem(platform.post(path + "/revoke", who=TASKFORCE, json={"note": "再撤"}), 409)
    tap.drain(until=lambda r: len(r) >= 1)
    assert tap.of_type("card.issued")[0]["data"]["colour"] == "yellow"

    # the month's notice carries it: JSON, a spreadsheet and an escaped page
    month = revoked["issued_at"][:7]  # UTC; the service files it by Shanghai date
    notice = platform.get(f"/api/v1/notices/{month}", who=TASKFORCE)
    if not notice.json()["cards"]:  # the first hours of a month in Shanghai
        pytest.skip("the card falls in the next Shanghai month")
    assert notice.json()["cards"][0]["id"] == card["id"]
    assert_problem(platform.get(f"/api/v1/notices/{month}", who=ENT_A), 403)
    assert_problem(platform.get("/api/v1/notices/2026-13", who=TASKFORCE), 422, "month")
    xlsx = platform.get(f"/api/v1/notices/{month}/notice.xlsx", who=TASKFORCE)
    sheet = load_workbook(io.BytesIO(xlsx.content))["红黄牌"]
    assert sheet.cell(2, 5).value == "<b>推诿</b>企业办事"
    page = platform.get(f"/notices/{month}", who=TASKFORCE)
    assert "&lt;b&gt;推诿&lt;/b&gt;" in page.text and "<b>推诿" not in page.text


def test_a_subjects_qr_code_opens_its_rating_form(platform):
    # rule: SCO-1
    png = platform.get("/api/v1/subjects/win_approval_1/qr.png")
    assert png.status_code == 200 and png.content.startswith(PNG_MAGIC)
    url = png.headers["X-Rating-URL"]
    assert url == f"{platform.base}/rate/win_approval_1"
    svg = platform.get("/api/v1/subjects/win_approval_1/qr.svg")
    assert svg.headers["Content-Type"].startswith("image/svg+xml") and b"<svg" in svg.content
    form = requests.get(url, timeout=10)
    assert form.status_code == 200 and 'data-subject="win_approval_1"' in form.text
    assert_problem(platform.get("/api/v1/subjects/nobody/qr.png"), 404)
    subjects = platform.get("/api/v1/subjects?kind=window", who=ENT_A).json()
    assert subjects and all(s["kind"] == "window" for s in subjects)


def read_events(response, board_list, count):
    """Collect ``count`` board events from an SSE response into ``board_list``."""
    data = None
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and data is not None:
            board_list.append(data)
            data = None
            if len(board_list) >= count:
                return


def test_live_session_streams_the_board_and_a_rater_scores_once(platform):
    # rule: SCO-6
    opened = platform.post("/api/v1/sessions", who=TASKFORCE, json={
        "title": "2026年百户企业评议", "departments": ["approval", "tax"]})
    assert opened.status_code == 201, opened.text
    sid = opened.json()["session_id"]
    assert_problem(platform.post("/api/v1/sessions", who=TASKFORCE, json={
        "title": "x", "departments": ["nowhere"]}), 422, "departments")
    stream = platform.get(f"/api/v1/sessions/{sid}/stream", who=TASKFORCE, stream=True)
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    boards = []
    reader = eventlet.spawn(read_events, stream, boards, 4)
    score = f"/api/v1/sessions/{sid}/scores"
    assert platform.post(score, who=ENT_A, json={"department": "approval", "score": 90}).status_code == 201
    assert_problem(platform.post(score, who=ENT_A, json={"department": "approval", "score": 10}), 409)
    assert_problem(platform.post(score, who=ENT_A, json={"department": "market", "score": 10}), 422,
                   "department")
    assert_problem(platform.post(score, who=TASKFORCE, json={"department": "tax", "score": 10}), 403)
    assert platform.post(score, who=ENT_B, json={"department": "approval", "score": 70}).status_code == 201
    board = platform.post(score, who=ENT_B, json={"department": "tax", "score": 95}).json()
    assert [(r["department"], r["mean"], r["scores"]) for r in board["board"]] == [
        ("tax", 95.0, 1), ("approval", 80.0, 2)]
    platform.post(f"/api/v1/sessions/{sid}/close", who=TASKFORCE)
    assert_problem(platform.post(score, who=ENT_B, json={"department": "tax", "score": 5}), 409)
    with eventlet.Timeout(20):
        reader.wait()
    stream.close()
    # the stream shows each change it saw, ending with the closed board
    assert boards[0]["revision"] < boards[-1]["revision"]
    assert boards[-1]["status"] == "closed"
    assert boards[-1]["board"][0]["department"] == "tax"


def test_key_sections_are_sampled_from_a_committed_seed_and_classified(platform):
    # rule: SCO-4
    today = WorkingCalendar.local_date(utcnow())
    body = {"quarter": f"{today.year}-Q{(today.month - 1) // 3 + 1}", "size": 3}
    assert_problem(platform.post("/api/v1/samples", who=APPROVAL, json=body), 403)
    assert_problem(platform.post("/api/v1/samples", who=TASKFORCE,
                                 json={"quarter": "2026-11", "size": 0}), 422, "quarter")
    drawn = platform.post("/api/v1/samples", who=TASKFORCE, json=body)
    assert drawn.status_code == 201, drawn.text
    sample = drawn.json()
    assert sample["seeded_at"] <= sample["drawn_at"] and len(sample["seed"]) == 32
    chiefs = platform.get("/api/v1/subjects?kind=section_chief", who=TASKFORCE).json()
    assert sample["population"] == sorted(c["code"] for c in chiefs)  # service/enforcement/resource
    assert len(sample["chosen"]) == 3 and sample["replay_matches"]
    assert all(r["outcome"] is None for r in sample["results"])  # nobody rated yet
    assert sample["results"][0]["rating_url"].endswith("/rate/" + sample["chosen"][0])
    assert platform.post("/api/v1/samples", who=TASKFORCE, json=body).json()["seed"] != sample["seed"]
    # enterprises scan the chosen chiefs' codes; the outcomes follow the thresholds
    first, second = sample["chosen"][:2]
    for i, score in enumerate((5, 5)):
        assert rate(platform, first, f"S-{i}", score).status_code == 201
    for i, score in enumerate((2, 3)):
        assert rate(platform, second, f"S-{i}", score, who=ENT_B).status_code == 201
    results = {r["subject_code"]: r for r in platform.get(
        f"/api/v1/samples/{sample['id']}", who=TASKFORCE).json()["results"]}
    assert (results[first]["outcome"], results[first]["mean"]) == ("commend", 5.0)
    assert (results[second]["outcome"], results[second]["mean"]) == ("adjust", 2.5)
    assert_problem(platform.get(f"/api/v1/samples/{sample['id']}", who=ENT_A), 403)
    assert_problem(platform.get("/api/v1/samples/999", who=TASKFORCE), 404)


def test_indicator_owners_submit_with_evidence_and_the_bottom_twice_are_flagged(platform):
    # rule: SCO-5
    today = WorkingCalendar.local_date(utcnow())
    quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    TAX = bearer("department", "tax", sub="clerk-tax")
    status = platform.get(f"/api/v1/indicators/{quarter}", who=TAX).json()
    assert len(status["indicators"]) == 41 and len(status["missing"]) == 41
    body = {"value": "3.5", "evidence": [{"name": "纳税时间统计表.xlsx",
                                          "url": "https://files.example.gov.cn/tax/q.xlsx"}]}
    path = f"/api/v1/indicators/{quarter}/I06.2"
    assert_problem(platform.post(path, who=APPROVAL, json=body), 403)  # not its indicator
    assert_problem(platform.post(path, who=TAX, json={"value": "3.5", "evidence": []}), 422,
                   "evidence")
    assert_problem(platform.post(path, who=TAX, json={**body, "evidence": [{"name": "x",
                                                                             "url": "ftp://x"}]}),
                   422, "evidence")
    assert_problem(platform.post(f"/api/v1/indicators/{quarter}/I99.9", who=TAX, json=body), 404)
    assert_problem(platform.post("/api/v1/indicators/2020-Q1/I06.2", who=TAX, json=body), 409)
    assert_problem(platform.get("/api/v1/indicators/2026-Q5", who=TAX), 422, "quarter")
    done = platform.post(path, who=TAX, json=body)
    assert done.status_code == 200, done.text
    assert "I06.2" not in done.json()["missing"] and len(done.json()["missing"]) == 40
    row = next(r for r in done.json()["indicators"] if r["code"] == "I06.2")
    assert row["value"] == "3.5" and row["owner"] == "tax" and row["evidence"][0]["name"]
    assert_problem(platform.get(f"/api/v1/indicators/{quarter}", who=ENT_A), 403)

    # two report sessions: a unit in the bottom two of both is called in for a talk
    ids = []
    for scores in ({"approval": 90, "tax": 40, "hr": 50}, {"approval": 45, "tax": 30, "hr": 95}):
        sid = platform.post("/api/v1/sessions", who=TASKFORCE, json={
            "title": "述职评议", "departments": list(scores)}).json()["session_id"]
        for dept, score in scores.items():
            platform.post(f"/api/v1/sessions/{sid}/scores", who=ENT_A,
                          json={"department": dept, "score": score})
        ids.append(sid)
    talks = platform.get(f"/api/v1/sessions/{ids[1]}/talks?previous={ids[0]}", who=TASKFORCE)
    assert talks.status_code == 200, talks.text
    assert talks.json()["flagged"] == ["tax"]  # hr rose; approval fell once
    assert_problem(platform.get(f"/api/v1/sessions/{ids[1]}/talks?previous={ids[0]}", who=TAX), 403)
    assert_problem(platform.get(f"/api/v1/sessions/{ids[1]}/talks", who=TASKFORCE), 422, "previous")
