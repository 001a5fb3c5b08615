"""The inspections service against the real RabbitMQ and database: the
registers and directory import, the double random draw (INS-6), joint visits
(INS-7), results (INS-8) and the yearly plan (INS-9)."""
import pytest
import requests

from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from services.inspections.service import InspectionsService
from tests.integration.test_inspections_flow import (  # noqa: F401 (fixtures)
    DATA, HEAD, KEY_ENT, PLAIN, PLAIN_2, TASKFORCE, base_url, body, dept, ent, ins_config,
    inspections, next_month, rules_of)

pytestmark = pytest.mark.integration

NEW_CODE = "91433126MA4L001101"  # the solar company: in bad_rows.csv, not in the seed


# -- the directory -----------------------------------------------------------------------------------

def seeded_with_tap(start_service, ins_config, event_tap):
    """Start the service with a tap on enterprise.upserted; the seed's eight are out."""
    tap = event_tap("inspections", "enterprise.upserted")
    container = start_service(InspectionsService, **ins_config)
    tap.drain(until=lambda r: len(r) >= 8)
    assert sorted(e["data"]["credit_code"] for e in tap.received) == sorted(SEED_CODES)
    tap.received.clear()
    return container, tap


SEED_CODES = [line.split(",")[0] for line in
              (DATA / "directory.csv").read_text(encoding="utf-8").splitlines()[1:]]


def test_directory_import_reports_bad_rows_by_line_and_column_and_loads_the_rest(
        ins_config, start_service, rpc, event_tap):
    # rule: INS-3 (the key-enterprise flags come from the directory)
    _, tap = seeded_with_tap(start_service, ins_config, event_tap)
    with rpc(dept("market")) as p:
        before = p.inspections.list_enterprises({"limit": 1000})["items"]
        report = p.inspections.import_directory((DATA / "bad_rows.csv").read_text(encoding="utf-8"))
    assert (report["rows"], report["loaded"], report["rejected"]) == (8, 2, 6)
    assert (report["created"], report["updated"], report["unchanged"]) == (1, 1, 0)
    assert {(e["line"], e["column"]) for e in report["errors"]} == {
        (3, "统一社会信用代码"), (4, "所属乡镇"), (5, "联系电话"), (7, "规上企业"), (8, "企业名称"),
        (8, "企业规模"), (9, "统一社会信用代码")}
    assert all(e["message"] for e in report["errors"])
    tap.drain(until=lambda r: len(r) >= 2)
    tap.drain(timeout=1.0)
    assert sorted(e["data"]["credit_code"] for e in tap.received) == sorted(
        ["91433126MA4L00070H", NEW_CODE])
    with rpc(dept("market")) as p:
        solar = p.inspections.get_enterprise(NEW_CODE)
        after = p.inspections.list_enterprises({"limit": 1000})["items"]
    assert solar["town"] == "hongshi" and solar["key_project"] and solar["key_enterprise"]
    assert len(after) == len(before) + 1
    assert "91433126MA4L00080J" not in {e["credit_code"] for e in after}  # its row was bad


def test_a_reimport_updates_and_never_duplicates(ins_config, start_service, rpc, event_tap):
    # rule: INS-3 (the key-enterprise flags come from the directory)
    seed = (DATA / "directory.csv").read_text(encoding="utf-8")
    _, tap = seeded_with_tap(start_service, ins_config, event_tap)
    with rpc(TASKFORCE) as p:
        same = p.inspections.import_directory(seed)
        changed = p.inspections.import_directory(
            seed.replace("示范县矿泉水有限公司,hongshi,food,小型,否",
                         "示范县矿泉水股份有限公司,hongshi,food,中型,是"))
        directory = p.inspections.list_enterprises({"limit": 1000})["items"]
    assert (same["created"], same["updated"], same["unchanged"]) == (0, 0, 8)
    assert (changed["created"], changed["updated"], changed["unchanged"]) == (0, 1, 7)
    assert len(directory) == 8
    water = next(e for e in directory if e["credit_code"] == PLAIN)
    assert water["name"] == "示范县矿泉水股份有限公司" and water["key_enterprise"] is True
    tap.drain(until=lambda r: len(r) >= 1)
    tap.drain(timeout=1.0)
    assert [(e["data"]["credit_code"], e["data"]["above_scale"]) for e in tap.received] == [
        (PLAIN, True)]


def test_a_bad_file_or_caller_changes_nothing(inspections, rpc):
    # rule: INS-3 (the key-enterprise flags come from the directory)
    with rpc(TASKFORCE) as p:
        before = p.inspections.list_enterprises({"limit": 1000})["items"]
        with pytest.raises(BadInput) as err:
            p.inspections.import_directory("企业名称,所属乡镇\n某公司,hongshi\n")
        assert "统一社会信用代码" in err.value.errors["csv_text"][0]
        with pytest.raises(BadInput) as err:
            p.inspections.import_directory("")
        assert "csv_text" in err.value.errors
        assert p.inspections.list_enterprises({"limit": 1000})["items"] == before
    with rpc(dept("tax")) as p:
        with pytest.raises(Forbidden):
            p.inspections.import_directory((DATA / "bad_rows.csv").read_text(encoding="utf-8"))
    with rpc(ent(PLAIN)) as p:
        with pytest.raises(Forbidden):
            p.inspections.list_enterprises({})
        assert p.inspections.get_enterprise(PLAIN)["name"] == "示范县矿泉水有限公司"
        with pytest.raises(NotFound):
            p.inspections.get_enterprise(KEY_ENT)


def test_the_registers_of_items_and_inspectors(inspections, rpc):
    # rule: INS-1
    with rpc(dept("market")) as p:
        items = p.inspections.list_items("market")
        roster = p.inspections.list_inspectors("tax")  # a department sees its own roster
        with pytest.raises(Forbidden):
            p.inspections.upsert_item({"code": "MKT-009", "department": "market", "name": "x",
                                       "legal_basis": "y", "standard": "z"})
        person = p.inspections.upsert_inspector({
            "code": "MKT-I-09", "department": "market", "name": "新人", "certificate_no": "43312601009",
            "conflicts": [{"credit_code": PLAIN_2, "reason": "曾在该企业任职"}]})
        with pytest.raises(Forbidden):
            p.inspections.upsert_inspector({"code": "TAX-I-09", "department": "tax", "name": "x",
                                            "certificate_no": "1"})
        with pytest.raises(BadInput) as err:
            p.inspections.upsert_inspector({"code": "MKT-I-10", "department": "market", "name": "重号",
                                            "certificate_no": "43312601001"})
        assert "certificate_no" in err.value.errors
    assert {i["code"] for i in items} == {"MKT-001", "MKT-002", "MKT-OLD"}
    assert {r["department"] for r in roster} == {"market"}
    assert person["conflicts"][0]["credit_code"] == PLAIN_2
    with rpc(TASKFORCE) as p:
        p.inspections.upsert_item({"code": "MKT-009", "department": "market", "name": "特种设备检查",
                                   "legal_basis": "《特种设备安全法》", "standard": "定期检验"})
    with rpc(dept("market")) as p:  # the new item and inspector can be filed at once
        v = p.inspections.file_inspection(body(items=["MKT-009"], inspectors=["MKT-I-01", "MKT-I-09"]))
        refused = p.inspections.file_inspection(body(enterprise_code=PLAIN_2,
                                                     inspectors=["MKT-I-01", "MKT-I-09"]))
    assert v["status"] == "approved"
    assert refused["status"] == "rejected" and rules_of(refused) == ["INS-6"]


# -- INS-6 double random, one public ------------------------------------------------------------------

def test_a_double_random_draw_is_reproducible_conflict_free_and_public(inspections, rpc, event_tap):
    # rule: INS-6
    tap = event_tap("inspections", "inspection.drawn")
    spec = {"title": "2026年食品生产经营双随机抽查", "item_codes": ["MKT-002"],
            "filters": {"industry": ["food", "catering", "retail"]}, "count": 4}
    with rpc(dept("market")) as p:
        one = p.inspections.draw(spec)
        two = p.inspections.draw(spec)  # a second attempt: kept, public, numbered
        with pytest.raises(BadInput) as err:  # the platform draws the seed
            p.inspections.draw({**spec, "seed": "county-2026-q4"})
        assert "seed" in err.value.errors
        with pytest.raises(BadInput) as err:
            p.inspections.draw({**spec, "count": 5})
        assert "count" in err.value.errors
        with pytest.raises(BadInput) as err:
            p.inspections.draw({**spec, "item_codes": ["EMG-001"]})
        assert "item_codes" in err.value.errors
    food = {"91433126MA4L00060G", "91433126MA4L00070H", "92433126MA4L00040B", "91433126MA4L001000"}
    assert one["department"] == "market" and one["population"] == 4
    assert {t["credit_code"] for t in one["targets"]} == food
    assert {t["credit_code"] for t in two["targets"]} == food  # all four drawn, in any order
    assert (one["attempt"], two["attempt"]) == (1, 2)
    assert one["population_digest"] == two["population_digest"] and one["seed"] != two["seed"]
    # the roster on the day: MKT-I-04's certificate has expired; MKT-I-02 declared a conflict
    for t in one["targets"]:
        codes = [i["code"] for i in t["inspectors"]]
        assert len(codes) == 2 and "MKT-I-04" not in codes
        if t["credit_code"] == "91433126MA4L00060G":
            assert "MKT-I-02" not in codes
    assert len(one["seed"]) == 64
    with rpc(None) as p:  # anyone re-runs it from its record
        assert p.inspections.replay_draw(one["id"])["matches"] is True
        assert p.inspections.replay_draw(two["id"])["matches"] is True
        assert p.inspections.get_draw(one["id"])["seed"] == one["seed"]
    tap.drain(until=lambda r: len(r) >= 2)
    drawn = tap.of_type("inspection.drawn")[0]["data"]
    assert drawn["seed"] == one["seed"] and sorted(drawn["targets"]) == sorted(food)

    # a drawn target is visited by the drawn pair, and its result is published
    target = one["targets"][0]
    with rpc(dept("market")) as p:
        visit = p.inspections.file_inspection(body(enterprise_code=target["credit_code"],
                                                   items=["MKT-002"], inspectors=None,
                                                   draw_id=one["id"]))
        with pytest.raises(BadInput) as err:
            p.inspections.file_inspection(body(enterprise_code=target["credit_code"], items=["MKT-002"],
                                               inspectors=["MKT-I-01", "MKT-I-02", "MKT-I-03"],
                                               draw_id=one["id"]))
        assert "inspectors" in err.value.errors
        p.inspections.act(visit["id"], "results", {"findings": [
            {"item_code": "MKT-002", "outcome": "compliant", "finding": "证照齐全"}]})
    assert sorted(i["code"] for i in visit["inspectors"]) == sorted(i["code"] for i in target["inspectors"])
    with rpc(None) as p:  # public: what the gateway's page shows (test_gateway_inspections.py)
        public = p.inspections.get_draw(one["id"])
        listed = p.inspections.list_draws({})
        with pytest.raises(NotFound):
            p.inspections.get_draw(9999)
    done = next(t for t in public["targets"] if t["credit_code"] == target["credit_code"])
    assert done["status"] == "completed" and done["violations_found"] == 0
    assert [d["id"] for d in listed] == [two["id"], one["id"]] and listed[0]["title"] == spec["title"]
    # HTML is the gateway's: the service serves no pages
    assert requests.get(base_url(inspections) + f"/draws/{one['id']}", timeout=10).status_code == 404


# -- INS-7 joint visits ---------------------------------------------------------------------------------

def test_visits_of_several_departments_merge_into_one_joint_visit_counted_once(inspections, rpc,
                                                                                 event_tap):
    # rule: INS-7
    tap = event_tap("inspections", "inspection.merged")
    day = next_month(6)
    visits = []
    for d, date in (("market", next_month(4)), ("emergency", next_month(6)), ("ecology", next_month(8))):
        with rpc(dept(d)) as p:
            visits.append(p.inspections.file_inspection(body(d, enterprise_code=KEY_ENT, planned_date=date)))
    with rpc(dept("tax")) as p:
        fourth = p.inspections.file_inspection(body("tax", enterprise_code=KEY_ENT, planned_date=day))
    assert fourth["status"] == "pending_approval" and rules_of(fourth) == ["INS-3"]
    with rpc(dept("market")) as p:
        with pytest.raises(Forbidden):
            p.inspections.merge_joint({"visit_ids": [v["id"] for v in visits]})
    with rpc(TASKFORCE) as p:
        found = p.inspections.joint_candidates({"month": day.strftime("%Y-%m")})
        assert [c["enterprise_code"] for c in found] == [KEY_ENT]
        assert found[0]["departments"] == ["ecology", "emergency", "market", "tax"]
        with pytest.raises(BadInput) as err:  # one department alone is no joint visit
            p.inspections.merge_joint({"visit_ids": [visits[0]["id"], visits[0]["id"] + 1000]})
        assert "visit_ids" in err.value.errors
        joint = p.inspections.merge_joint({"visit_ids": [v["id"] for v in visits],
                                           "planned_date": day.isoformat(),
                                           "lead_department": "emergency", "note": "进一次门、查多项事"})
        merged = [p.inspections.get_inspection(v["id"]) for v in visits]
        with pytest.raises(BadInput):  # merged visits cannot merge again
            p.inspections.merge_joint({"visit_ids": [visits[0]["id"], visits[1]["id"]]})
    assert joint["kind"] == "joint" and joint["status"] == "approved" and joint["entry_code"] == "green"
    assert joint["department"] == "emergency"
    assert joint["departments"] == ["ecology", "emergency", "market"]
    assert sorted(i["item_code"] for i in joint["items"]) == ["ECO-001", "EMG-001", "MKT-001"]
    assert len(joint["inspectors"]) == 6 and sorted(joint["merged_from"]) == sorted(v["id"] for v in visits)
    assert all(m["status"] == "merged" and m["merged_into"] == joint["id"] and m["entry_code"] == "red"
               for m in merged)
    # the joint visit counts once: joint + tax's pending = 2 places; the next is within the cap
    with rpc(dept("hr")) as p:
        assert p.inspections.file_inspection(body("hr", enterprise_code=KEY_ENT, planned_date=day))[
            "status"] == "approved"
        assert p.inspections.file_inspection(body("hr", enterprise_code=KEY_ENT, planned_date=day))[
            "status"] == "pending_approval"
    with rpc(dept("market")) as p:  # each department sees the joint visit
        assert p.inspections.get_inspection(joint["id"])["id"] == joint["id"]
    tap.drain(until=lambda r: len(r) >= 1)
    event = tap.received[0]["data"]
    assert event["inspection_id"] == joint["id"] and sorted(event["merged_from"]) == sorted(
        v["id"] for v in visits)


def test_a_joint_visit_filed_as_one_covers_its_partners_lists(inspections, rpc):
    # rule: INS-7
    with rpc(dept("market")) as p:
        joint = p.inspections.file_inspection(body(
            kind="joint", partner_departments=["emergency"], items=["MKT-001", "EMG-001"],
            inspectors=["MKT-I-01", "EMG-I-01"]))
        outside = p.inspections.file_inspection(body(
            kind="joint", partner_departments=["emergency"], items=["MKT-001", "ECO-001"],
            inspectors=["MKT-I-01", "EMG-I-01"]))
    assert joint["status"] == "approved" and joint["departments"] == ["emergency", "market"]
    assert outside["status"] == "rejected" and rules_of(outside) == ["INS-1"]
    with rpc(dept("emergency")) as p:  # the partner sees it and records its own items
        done = p.inspections.act(joint["id"], "results", {"findings": [
            {"item_code": "EMG-001", "outcome": "compliant"}]})
        with pytest.raises(BadInput) as err:
            p.inspections.act(joint["id"], "results", {"findings": [
                {"item_code": "MKT-001", "outcome": "compliant"}]})
        assert "findings.0.item_code" in err.value.errors
    assert done["status"] == "approved"  # market's item still open


# -- INS-8 results, 首违不罚 --------------------------------------------------------------------------------

def test_a_first_minor_violation_on_the_list_is_recorded_not_penalised(inspections, rpc, event_tap):
    # rule: INS-8
    tap = event_tap("inspections", "inspection.completed")
    with rpc(dept("market")) as p:
        first = p.inspections.file_inspection(body(items=["MKT-001", "MKT-002"]))
        second = p.inspections.file_inspection(body(items=["MKT-001"], planned_date=next_month(6)))
        with pytest.raises(BadInput) as err:  # a violation without its code: nothing recorded
            p.inspections.act(first["id"], "results", {"findings": [
                {"item_code": "MKT-001", "outcome": "compliant"},
                {"item_code": "MKT-002", "outcome": "violation", "severity": "minor"}]})
        assert "findings.1.violation_code" in err.value.errors
        with pytest.raises(BadInput) as err:
            p.inspections.act(first["id"], "results", {"findings": [
                {"item_code": "EMG-001", "outcome": "compliant"}]})
        assert "findings.0.item_code" in err.value.errors
        assert all(i["outcome"] is None for i in p.inspections.get_inspection(first["id"])["items"])

        partial = p.inspections.act(first["id"], "results", {"findings": [
            {"item_code": "MKT-001", "outcome": "violation", "violation_code": "MKT-LICENCE-DISPLAY",
             "severity": "minor", "finding": "营业执照未悬挂，当场改正"}]})
        assert partial["status"] == "approved"  # MKT-002 still to record
        done = p.inspections.act(first["id"], "results", {"findings": [
            {"item_code": "MKT-002", "outcome": "violation", "violation_code": "MKT-EXPIRED-FOOD",
             "severity": "serious", "finding": "销售过期食品"}]})
        with pytest.raises(Conflict):
            p.inspections.act(first["id"], "results", {"findings": [
                {"item_code": "MKT-001", "outcome": "compliant"}]})
        again = p.inspections.act(second["id"], "results", {"findings": [
            {"item_code": "MKT-001", "outcome": "violation", "violation_code": "MKT-LICENCE-DISPLAY",
             "severity": "minor"}]})
    assert done["status"] == "completed" and done["entry_code"] == "green"
    licence, food = done["items"]
    assert licence["penalised"] is False and licence["first_offence"] is True
    assert licence["no_penalty_code"] == "SWBF-MKT-01" and "首次" in licence["no_penalty_name"]
    assert food["penalised"] is True and food["no_penalty_code"] is None
    repeat = again["items"][0]  # the second time is no longer a first violation
    assert repeat["penalised"] is True and repeat["first_offence"] is False
    tap.drain(until=lambda r: len(r) >= 2)
    by_visit = {e["data"]["inspection_id"]: e["data"] for e in tap.received}
    assert by_visit[first["id"]]["violations_found"] == 2 and by_visit[first["id"]]["not_penalised"] == 1
    assert by_visit[second["id"]]["not_penalised"] == 0
    with rpc(dept("tax")) as p:
        with pytest.raises(NotFound):
            p.inspections.act(first["id"], "results", {"findings": [
                {"item_code": "MKT-001", "outcome": "compliant"}]})


def test_results_wait_for_approval(inspections, rpc):
    # rule: INS-8
    with rpc(dept("market")) as p:
        pending = p.inspections.file_inspection(body(planned_date=next_month(14)))
        with pytest.raises(Conflict):
            p.inspections.act(pending["id"], "results", {"findings": [
                {"item_code": "MKT-001", "outcome": "compliant"}]})


# -- INS-9 the yearly plan ---------------------------------------------------------------------------------

def test_an_enterprise_sees_its_yearly_plan(inspections, rpc):
    # rule: INS-9
    day = next_month(7)
    with rpc(dept("market")) as p:
        mine = p.inspections.file_inspection(body(planned_date=day))
        p.inspections.file_inspection(body(enterprise_code=PLAIN_2, planned_date=day))
        cancelled = p.inspections.file_inspection(body(planned_date=next_month(8)))
        p.inspections.act(cancelled["id"], "cancel", {"reason": "取消"})
    with rpc(dept("emergency")) as p:
        theirs = p.inspections.file_inspection(body("emergency", planned_date=next_month(9)))
    with rpc(ent(PLAIN)) as p:
        plan = p.inspections.yearly_plan(PLAIN, day.year)
        with pytest.raises(NotFound):
            p.inspections.yearly_plan(PLAIN_2, day.year)
        with pytest.raises(BadInput):
            p.inspections.yearly_plan(PLAIN, "next year")
    assert plan["enterprise"]["name"] == "示范县矿泉水有限公司" and plan["year"] == day.year
    assert [i["id"] for i in plan["inspections"]] == [mine["id"], theirs["id"]]
    assert plan["inspections"][0]["items"][0]["name"] == "营业执照及登记事项检查"
    # the standards it will face: items for every industry and for food, not the others
    codes = {s["item_code"] for s in plan["standards"]}
    assert codes == {"MKT-001", "MKT-002", "EMG-001", "ECO-001", "TAX-001", "HR-001"}
    mkt = next(s for s in plan["standards"] if s["item_code"] == "MKT-001")
    assert mkt["department_name"] == "县市场监督管理局" and mkt["standard"] and mkt["legal_basis"]
    with rpc(ent(PLAIN_2)) as p:
        catering = p.inspections.yearly_plan(PLAIN_2, day.year)
    assert {s["item_code"] for s in catering["standards"]} == {"MKT-001", "MKT-002", "TAX-001", "HR-001"}
    with rpc(HEAD) as p:
        assert p.inspections.yearly_plan(PLAIN, day.year + 1)["inspections"] == []


def test_other_services_learn_of_enterprises_through_events(db_factory, ins_config, start_service, rpc):
    # rule: INS-3 (the directory's key-enterprise flags reach the appeals service)
    import time

    import sqlalchemy as sa

    from kernel.db import make_engine
    from services.appeals.service import AppealsService
    appeals_db = db_factory("appeals")
    start_service(AppealsService, DB_URL=appeals_db)  # its queue exists before the seed goes out
    start_service(InspectionsService, **ins_config)
    engine = make_engine(appeals_db)

    def known():
        with engine.connect() as c:
            return dict(c.execute(sa.text("SELECT credit_code, key_enterprise FROM enterprises")).all())

    end = time.monotonic() + 30
    while len(known()) < 8 and time.monotonic() < end:
        time.sleep(0.1)
    assert {code: bool(k) for code, k in known().items()} == {
        "91433126MA4L00010B": True, KEY_ENT: True, "91433126MA4L00030D": True, PLAIN_2: False,
        "91433126MA4L00050F": True, PLAIN: False, "91433126MA4L00070H": True,
        "91433126MA4L001000": False}
    with rpc(TASKFORCE) as p:
        p.inspections.import_directory((DATA / "bad_rows.csv").read_text(encoding="utf-8"))
    end = time.monotonic() + 30
    while NEW_CODE not in known() and time.monotonic() < end:
        time.sleep(0.1)
    assert known()[NEW_CODE]
    engine.dispose()
