"""The appeals service against the real RabbitMQ and database."""
import base64
import csv
import datetime as dt
import io

import pytest

from kernel.calendar import utcnow
from kernel.errors import BadInput, Conflict, Forbidden, NotFound, Unauthorized
from services.appeals.service import AppealsService
from tests.conftest import ENTERPRISE_A

pytestmark = pytest.mark.integration


def new_appeal(**overrides):
    body = {"channel": "mini_program", "category": "permit", "town": "hongshi",
            "title": "营业执照变更迟迟未办", "content": "提交材料已两周, 仍未办结",
            "contact_name": "张明", "contact_phone": "13912340001"}
    body.update(overrides)
    return body


@pytest.fixture
def appeals(start_service, db_factory):
    return start_service(AppealsService, DB_URL=db_factory("appeals"))


def test_closed_loop_from_created_to_closed(appeals, rpc, callers, event_tap):
    # rule: APP-6
    tap = event_tap("appeals")
    with rpc(callers["ent_a"]) as p:
        a = p.appeals.create_appeal(new_appeal())
    assert a["status"] == "assigned" and a["lead_department"] == "approval"
    with rpc(callers["approval"]) as p:
        assert p.appeals.act(a["id"], "accept", {})["status"] == "accepted"
        assert p.appeals.act(a["id"], "reply", {"content": "已办结, 请查收"})["status"] == "replied"
    with rpc(callers["ent_a"]) as p:
        done = p.appeals.act(a["id"], "feedback", {"rating": 4, "comment": "满意"})
    assert done["status"] == "closed" and done["rating"] == 4
    assert [(h["action"], h["to_status"]) for h in done["history"]] == [
        ("create", "received"), ("assign", "assigned"), ("accept", "accepted"),
        ("reply", "replied"), ("feedback", "closed")]
    events = tap.drain(until=lambda r: any(e["event_type"] == "appeal.closed" for e in r))
    types = [e["event_type"] for e in events if e["data"]["appeal_id"] == a["id"]]
    for t in ("appeal.created", "appeal.assigned", "appeal.status_changed", "appeal.replied",
              "appeal.rated", "appeal.closed"):
        assert t in types
    assert len({e["event_id"] for e in events}) == len(events)


def test_bad_input_names_the_field_and_stores_nothing(appeals, rpc, callers):
    # rule: APP-1
    cases = {
        "enterprise_code": dict(enterprise_code="91433126MA4L00010X"),
        "channel": dict(channel="carrier_pigeon"),
        "category": dict(category="nonsense"),
        "town": dict(town="atlantis"),
        "content": dict(content=""),
        "title": dict(title="x" * 201),
        "contact_phone": dict(contact_phone="12345"),
    }
    with rpc(callers["taskforce"]) as p:
        for field, override in cases.items():
            body = new_appeal(**{"enterprise_code": ENTERPRISE_A, **override})
            with pytest.raises(BadInput) as err:
                p.appeals.create_appeal(body)
            assert field in err.value.errors, (field, err.value.errors)
        assert p.appeals.list_appeals({})["items"] == []


def test_every_channel_lands_in_one_ledger(appeals, rpc, callers):
    # rule: APP-1
    from services.appeals.domain import CHANNELS
    with rpc(callers["taskforce"]) as p:
        for channel in CHANNELS:
            p.appeals.create_appeal(new_appeal(channel=channel, enterprise_code=ENTERPRISE_A))
        items = p.appeals.list_appeals({"limit": 100})["items"]
    assert sorted(i["channel"] for i in items) == sorted(CHANNELS)


def test_integrator_keeps_original_received_at(start_service, db_factory, rpc, callers):
    # rule: APP-4
    # within the configured bound of back-dating, however long ago that date now is
    bound = (utcnow() - dt.datetime(2026, 9, 28, tzinfo=dt.timezone.utc)).days + 1
    start_service(AppealsService, DB_URL=db_factory("appeals"), RECEIVED_AT_MAX_DAYS=bound)
    with rpc(callers["hotline"]) as p:
        a = p.appeals.create_appeal(new_appeal(enterprise_code=ENTERPRISE_A,
                                               received_at="2026-09-29T09:00:00+08:00"))
    # yellow = 5 working days after 29 Sep 2026, across the National Day week
    # (1–7 Oct off, Sat 10 Oct a make-up working day): 30 Sep, 8, 9, 10, 12 Oct.
    assert a["channel"] == "hotline_12345"
    assert a["received_at"].startswith("2026-09-29T01:00:00")
    assert a["due_at"].startswith("2026-10-12T15:59:59")
    with rpc(callers["ent_a"]) as p:
        with pytest.raises(BadInput) as err:
            p.appeals.create_appeal(new_appeal(received_at="2026-09-29T09:00:00+08:00"))
    assert "received_at" in err.value.errors


def test_unknown_route_waits_for_the_task_force_who_can_reroute(appeals, rpc, callers):
    # rule: APP-2
    with rpc(callers["ent_a"]) as p:
        a = p.appeals.create_appeal(new_appeal(category="other", town="moshi"))
    assert a["status"] == "received" and a["lead_department"] is None
    with rpc(callers["taskforce"]) as p:
        a = p.appeals.act(a["id"], "assign", {"department": "market", "tier": "red"})
        assert a["status"] == "assigned" and a["lead_department"] == "market" and a["tier"] == "red"
        p.appeals.set_route({"category": "other", "town": "moshi", "lead_department": "hr"})
    with rpc(callers["ent_a"]) as p:
        b = p.appeals.create_appeal(new_appeal(category="other", town="moshi"))
    assert b["lead_department"] == "hr"


def test_illegal_transition_is_refused_and_changes_nothing(appeals, rpc, callers):
    # rule: APP-6
    with rpc(callers["ent_a"]) as p:
        a = p.appeals.create_appeal(new_appeal())
    with rpc(callers["approval"]) as p:
        with pytest.raises(Conflict):
            p.appeals.act(a["id"], "reply", {"content": "answer before accepting"})
        after = p.appeals.get_appeal(a["id"])
    assert after["status"] == "assigned" and after["updated_at"] == a["updated_at"]
    assert len(after["history"]) == len(a["history"])


def test_nobody_sees_what_is_not_theirs(appeals, rpc, callers):
    # rule: GW-2
    with rpc(callers["ent_a"]) as p:
        a = p.appeals.create_appeal(new_appeal())
    with rpc(callers["ent_b"]) as p:
        with pytest.raises(NotFound):
            p.appeals.get_appeal(a["id"])
        with pytest.raises(NotFound):
            p.appeals.act(a["id"], "feedback", {"rating": 1})
        assert p.appeals.list_appeals({})["items"] == []
    with rpc(callers["tax"]) as p:
        with pytest.raises(NotFound):
            p.appeals.get_appeal(a["id"])
    with rpc(callers["market"]) as p:  # co-handling department sees it, may not act
        assert p.appeals.get_appeal(a["id"])["id"] == a["id"]
        with pytest.raises(Forbidden):
            p.appeals.act(a["id"], "accept", {})
    with rpc(None) as p:
        with pytest.raises(Unauthorized):
            p.appeals.get_appeal(a["id"])


def test_dissatisfied_rating_reopens_and_opens_review(appeals, rpc, callers, event_tap):
    # rule: APP-7
    tap = event_tap("appeals", "appeal.*")
    with rpc(callers["ent_a"]) as p:
        a = p.appeals.create_appeal(new_appeal())
    with rpc(callers["approval"]) as p:
        p.appeals.act(a["id"], "accept", {})
        p.appeals.act(a["id"], "reply", {"content": "已处理"})
    with rpc(callers["ent_a"]) as p:
        r = p.appeals.act(a["id"], "feedback", {"rating": 2, "comment": "没解决"})
    assert r["status"] == "accepted" and r["under_review"] and r["reopen_count"] == 1
    tap.drain(until=lambda ev: any(e["event_type"] == "appeal.review_opened" for e in ev))
    rated = tap.of_type("appeal.rated")
    assert rated and rated[-1]["data"]["dissatisfied"] is True
    assert not tap.of_type("appeal.closed")


def test_extension_needs_approval(appeals, rpc, callers):
    # rule: APP-6
    with rpc(callers["ent_a"]) as p:
        a = p.appeals.create_appeal(new_appeal())
    with rpc(callers["approval"]) as p:
        asked = p.appeals.act(a["id"], "extend", {"days": 3, "reason": "需现场核查"})
    assert asked["due_at"] == a["due_at"] and asked["extension_request"]["days"] == 3
    with rpc(callers["taskforce"]) as p:
        granted = p.appeals.act(a["id"], "approve_extension", {})
        p.appeals.act(a["id"], "instruct", {"content": "请加快办理 —— 县长"})
    assert granted["due_at"] > a["due_at"] and granted["extension_request"] is None


def test_transfer_and_send_back(appeals, rpc, callers):
    # rule: APP-6
    with rpc(callers["ent_a"]) as p:
        a = p.appeals.create_appeal(new_appeal())
    with rpc(callers["approval"]) as p:
        t = p.appeals.act(a["id"], "transfer", {"department": "market", "reason": "属市场监管职责"})
    assert t["lead_department"] == "market" and t["status"] == "assigned"
    with rpc(callers["market"]) as p:
        r = p.appeals.act(a["id"], "return", {"reason": "非本单位职责"})
    assert r["status"] == "received" and r["lead_department"] is None


def test_ledger_pages_filters_stats_and_exports(appeals, rpc, callers):
    # rule: APP-8
    with rpc(callers["taskforce"]) as p:
        for i in range(7):
            p.appeals.create_appeal(new_appeal(enterprise_code=ENTERPRISE_A, title=f"诉求{i}",
                                               category="tax" if i % 2 else "permit"))
        seen, cursor = [], None
        while True:
            page = p.appeals.list_appeals({"limit": 3, "cursor": cursor} if cursor else {"limit": 3})
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 7 and len(set(seen)) == 7 and seen == sorted(seen, reverse=True)
        assert {i["lead_department"] for i in p.appeals.list_appeals(
            {"department": "tax"})["items"]} == {"tax"}
        assert len(p.appeals.list_appeals({"tier": "blue"})["items"]) == 3
        with pytest.raises(BadInput) as err:
            p.appeals.list_appeals({"status": "lost"})
        assert "status" in err.value.errors
        csv_out = p.appeals.export_appeals({"format": "csv"})
        xlsx_out = p.appeals.export_appeals({"format": "xlsx", "department": "tax"})
        from kernel.calendar import SHANGHAI, utcnow
        stats = p.appeals.monthly_stats({"month": utcnow().astimezone(SHANGHAI).strftime("%Y-%m")})
    rows = list(csv.reader(io.StringIO(base64.b64decode(csv_out["content_base64"]).decode("utf-8-sig"))))
    assert rows[0][0] == "编号" and len(rows) == 8
    from openpyxl import load_workbook
    wb = load_workbook(io.BytesIO(base64.b64decode(xlsx_out["content_base64"])))
    assert wb.active.max_row == 4  # header + 3 tax appeals
    by_dept = {d["department"]: d for d in stats["departments"]}
    assert by_dept["approval"]["received"] == 4 and by_dept["tax"]["received"] == 3
    with rpc(callers["tax"]) as p:  # 三张清单 of one department, for that department only
        lists = p.appeals.three_lists("tax")
        assert len(lists["tasks"]) == 3 and len(lists["deadlines"]) == 3
        with pytest.raises(NotFound):
            p.appeals.three_lists("approval")
    with rpc(callers["market"]) as p:  # co-handling: in its responsibility list, not its tasks
        lists = p.appeals.three_lists("market")
    assert lists["tasks"] == [] and {r["role"] for r in lists["responsibilities"]} == {"co-handling"}


def test_rectification_items_are_ticked_off_one_by_one(appeals, rpc, callers):
    # rule: APP-9
    with rpc(callers["taskforce"]) as p:
        one = p.appeals.create_rectification({
            "source": "2020年营商环境红黑榜评价", "problem": "审批时限压缩不到位",
            "lead_department": "approval", "responsible_leader": "王副县长",
            "co_departments": ["market"], "deadline": "2026-12-31"})
        two = p.appeals.create_rectification({
            "source": "第三方评估", "problem": "涉企收费公示不全",
            "lead_department": "finance", "responsible_leader": "李副县长",
            "deadline": "2026-12-31"})
        with pytest.raises(BadInput) as err:
            p.appeals.create_rectification({"source": "x", "problem": "y", "lead_department": "nope",
                                            "responsible_leader": "z", "deadline": "2026-12-31"})
        assert "lead_department" in err.value.errors
    with rpc(callers["tax"]) as p:
        with pytest.raises(NotFound):
            p.appeals.tick_off_rectification(one["id"], {"note": "done"})
    with rpc(callers["approval"]) as p:
        done = p.appeals.tick_off_rectification(one["id"], {"note": "已压缩至3个工作日"})
        assert done["status"] == "done"
        with pytest.raises(Conflict):
            p.appeals.tick_off_rectification(one["id"], {"note": "again"})
    with rpc(callers["taskforce"]) as p:
        items = {i["id"]: i["status"] for i in p.appeals.list_rectifications({})}
    assert items == {one["id"]: "done", two["id"]: "open"}
