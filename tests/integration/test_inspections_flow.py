"""The inspections service against the real RabbitMQ and database: filing a
visit and the rules that decide it (INS-1 … INS-5), the entry code."""
import datetime as dt
import json
from pathlib import Path

import eventlet
import pytest
import requests

from kernel.calendar import SHANGHAI, utcnow
from kernel.errors import BadInput, Conflict, Forbidden, NotFound, Unauthorized
from kernel.rpc import Caller
from services.inspections.service import InspectionsService
from tests.support.probes import scrape_until

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent.parent / "data" / "inspections"
CODE_KEY = "integration-test-entry-code-key"
KEY_ENT = "91433126MA4L00020C"      # above scale, key investment, key project
KEY_ENT_2 = "91433126MA4L00070H"    # above scale
PLAIN = "91433126MA4L00060G"        # small food company: no cap
PLAIN_2 = "92433126MA4L00040B"      # catering
CONFLICTED = PLAIN                  # MKT-I-02 declared a conflict with it

ROSTERS = {"market": (["MKT-001"], ["MKT-I-01", "MKT-I-03"]),
           "emergency": (["EMG-001"], ["EMG-I-01", "EMG-I-02"]),
           "ecology": (["ECO-001"], ["ECO-I-01", "ECO-I-02"]),
           "tax": (["TAX-001"], ["TAX-I-01", "TAX-I-02"]),
           "hr": (["HR-001"], ["HR-I-01", "HR-I-02"])}

HEAD = Caller(role="taskforce", sub="tf-head", org="taskforce", name="专班主任")
SCOPED_HEAD = Caller(role="taskforce", sub="tf-deputy", org="taskforce",
                     scopes=("inspections:approve",))
TASKFORCE = Caller(role="taskforce", sub="tf-1", org="taskforce")


def dept(code):
    return Caller(role="department", sub=f"clerk-{code}", org=code)


def ent(code):
    return Caller(role="enterprise", sub=f"user-{code[-4:]}", org=code)


def today():
    return utcnow().astimezone(SHANGHAI).date()


def next_month(day):
    """A day of next month: always ahead, whatever today is."""
    t = today()
    return dt.date(t.year + t.month // 12, t.month % 12 + 1, day)


def body(roster="market", **overrides):
    """A filing with the items and inspectors of ``roster``'s department."""
    items, inspectors = ROSTERS[roster]
    b = {"enterprise_code": PLAIN, "kind": "routine", "planned_date": next_month(5).isoformat(),
         "items": list(items), "inspectors": list(inspectors), "reason": "年度计划内检查"}
    b.update(overrides)
    if isinstance(b["planned_date"], dt.date):
        b["planned_date"] = b["planned_date"].isoformat()
    return b


@pytest.fixture
def ins_config(db_factory):
    return {"DB_URL": db_factory("inspections"),
            "INS_SEED_REGISTERS": str(DATA / "registers.json"),
            "INS_SEED_DIRECTORY": str(DATA / "directory.csv"),
            "INS_NO_PENALTY_FILE": str(DATA / "no_penalty.json"),
            "INS_CODE_KEY": CODE_KEY,
            "INS_TASKFORCE_HEADS": ["tf-head"]}


@pytest.fixture
def inspections(ins_config, start_service):
    # ins_config first: its database outlives the containers at teardown
    return start_service(InspectionsService, **ins_config)


def base_url(container):
    return "http://" + container.config["WEB_SERVER_ADDRESS"]


def rules_of(result):
    return [v["rule"] for v in result["violations"]]


# -- INS-4: file before you go -----------------------------------------------------------------

def test_a_visit_inside_the_rules_is_approved_green_with_its_events(inspections, rpc, event_tap):
    # rule: INS-4
    tap = event_tap("inspections", "inspection.*")
    with rpc(dept("market")) as p:
        v = p.inspections.file_inspection(body(department="tax"))  # department forced to market
    assert v["status"] == "approved" and v["entry_code"] == "green" and v["violations"] == []
    assert v["department"] == "market" and v["departments"] == ["market"]
    assert [i["item_code"] for i in v["items"]] == ["MKT-001"]
    assert [i["name"] for i in v["inspectors"]] == ["田雨", "彭晓"]
    assert v["enterprise_name"] == "示范县矿泉水有限公司"
    assert [(h["action"], h["to_status"]) for h in v["history"]] == [("file", "approved")]
    tap.drain(until=lambda r: len(r) >= 2)
    assert [e["event_type"] for e in tap.received] == ["inspection.filed", "inspection.approved"]
    approved = tap.of_type("inspection.approved")[0]["data"]
    assert approved["inspection_id"] == v["id"] and approved["automatic"] is True
    assert approved["entry_code"] == "green" and approved["department"] == "market"


def test_bad_requests_name_the_field_and_store_nothing(inspections, rpc, event_tap):
    # rule: INS-4
    tap = event_tap("inspections", "inspection.*")
    cases = {
        "enterprise_code": body(enterprise_code="91433126MA4L00060X"),
        "kind": body(kind="social_call"),
        "planned_date": body(planned_date=(today() - dt.timedelta(days=1)).isoformat()),
        "exempt_category": body(exempt_category="friendly_chat"),
        "items": body(items=[]),
        "reason": body(kind="emergency", reason="", planned_date=today().isoformat()),
        "partner_departments": body(partner_departments=["emergency"]),
        "inspectors": body(inspectors=["MKT-I-01", "MKT-I-01"]),
    }
    no_inspectors = {k: v for k, v in body().items() if k != "inspectors"}
    with rpc(dept("market")) as p:
        for field, payload in cases.items():
            with pytest.raises(BadInput) as err:
                p.inspections.file_inspection(payload)
            assert field in err.value.errors, (field, err.value.errors)
        with pytest.raises(BadInput) as err:  # a valid code, but not in the directory
            p.inspections.file_inspection(body(enterprise_code="91433126MA4L001808"))
        assert "enterprise_code" in err.value.errors
        with pytest.raises(BadInput) as err:
            p.inspections.file_inspection(body(kind="emergency", reason="火情",
                                               planned_date=next_month(5).isoformat()))
        assert "planned_date" in err.value.errors
        with pytest.raises(BadInput) as err:  # INS-1: an inspection names its inspectors
            p.inspections.file_inspection(no_inspectors)
        assert "inspectors" in err.value.errors
        assert p.inspections.list_inspections({})["items"] == []
    with rpc(TASKFORCE) as p:
        with pytest.raises(BadInput) as err:  # the task force names the department
            p.inspections.file_inspection(body())
        assert "department" in err.value.errors
    with rpc(ent(PLAIN)) as p:
        with pytest.raises(Forbidden):
            p.inspections.file_inspection(body())
    with rpc(None) as p:
        with pytest.raises(Unauthorized):
            p.inspections.file_inspection(body())
    assert tap.drain(timeout=1.0) == []


def test_the_same_idempotency_key_files_one_visit(inspections, rpc):
    # rule: INS-4
    with rpc(dept("market")) as p:
        one = p.inspections.file_inspection(body(idempotency_key="req-1"))
        two = p.inspections.file_inspection(body(idempotency_key="req-1"))
        assert one["id"] == two["id"]
        assert len(p.inspections.list_inspections({})["items"]) == 1


# -- INS-1: no inspection outside the list ---------------------------------------------------------

def test_an_item_or_inspector_off_the_departments_list_is_refused(inspections, rpc, event_tap):
    # rule: INS-1
    tap = event_tap("inspections", "inspection.rejected")
    with rpc(dept("market")) as p:
        other_item = p.inspections.file_inspection(body(items=["MKT-001", "EMG-001"]))
        unknown = p.inspections.file_inspection(body(items=["MKT-999"]))
        retired = p.inspections.file_inspection(body(items=["MKT-OLD"]))
        other_person = p.inspections.file_inspection(body(inspectors=["MKT-I-01", "EMG-I-01"]))
        expired = p.inspections.file_inspection(body(inspectors=["MKT-I-01", "MKT-I-04"]))
        conflicted = p.inspections.file_inspection(body(enterprise_code=CONFLICTED,
                                                        inspectors=["MKT-I-01", "MKT-I-02"]))
    for refused in (other_item, unknown, retired, other_person, expired):
        assert refused["status"] == "rejected" and refused["entry_code"] == "red"
        assert rules_of(refused) == ["INS-1"]
    assert "EMG-001" in other_item["violations"][0]["message"]
    assert "EMG-I-01" in other_person["violations"][0]["message"]
    assert conflicted["status"] == "rejected" and rules_of(conflicted) == ["INS-6"]
    tap.drain(until=lambda r: len(r) >= 6)
    assert {e["data"]["inspection_id"] for e in tap.received} == {
        v["id"] for v in (other_item, unknown, retired, other_person, expired, conflicted)}
    assert all(e["data"]["automatic"] for e in tap.received)


# -- INS-2: quiet days ----------------------------------------------------------------------------------

def test_a_quiet_day_needs_approval_unless_exempt(inspections, rpc, event_tap):
    # rule: INS-2
    tap = event_tap("inspections", "inspection.*")
    with rpc(dept("market")) as p:
        quiet = p.inspections.file_inspection(body(planned_date=next_month(12)))
        exempt = p.inspections.file_inspection(body(planned_date=next_month(12),
                                                    exempt_category="public_safety"))
        edge = p.inspections.file_inspection(body(planned_date=next_month(26)))
    assert quiet["status"] == "pending_approval" and quiet["entry_code"] == "red"
    assert rules_of(quiet) == ["INS-2"]
    assert exempt["status"] == "approved" and exempt["violations"] == []
    assert edge["status"] == "approved"
    tap.drain(until=lambda r: len(r) >= 5)
    filed = {e["data"]["inspection_id"]: e["data"] for e in tap.of_type("inspection.filed")}
    assert filed[quiet["id"]]["status"] == "pending_approval"
    assert [v["rule"] for v in filed[quiet["id"]]["violations"]] == ["INS-2"]
    assert {e["data"]["inspection_id"] for e in tap.of_type("inspection.approved")} == {
        exempt["id"], edge["id"]}


def test_the_quiet_window_comes_from_configuration(ins_config, start_service, rpc):
    # rule: INS-2
    start_service(InspectionsService, **ins_config, INS_QUIET_DAYS=[1, 6],
                  INS_EXEMPT_CATEGORIES={"flood_control": "防汛抢险"})
    with rpc(dept("market")) as p:
        assert p.inspections.file_inspection(body(planned_date=next_month(12)))["status"] == "approved"
        assert p.inspections.file_inspection(body(planned_date=next_month(5)))["status"] == \
            "pending_approval"
        assert p.inspections.file_inspection(body(planned_date=next_month(5),
                                                  exempt_category="flood_control"))["status"] == "approved"
        with pytest.raises(BadInput) as err:
            p.inspections.file_inspection(body(exempt_category="public_safety"))
        assert "exempt_category" in err.value.errors
        assert p.inspections.reference()["quiet_days"] == [1, 6]


# -- INS-3: at most three a month -------------------------------------------------------------------------

def test_the_fourth_visit_to_a_key_enterprise_needs_approval(inspections, rpc):
    # rule: INS-3
    day = next_month(3)
    filed = []
    for d in ("market", "emergency", "ecology"):
        with rpc(dept(d)) as p:
            filed.append(p.inspections.file_inspection(body(d, enterprise_code=KEY_ENT, planned_date=day)))
    assert [v["status"] for v in filed] == ["approved"] * 3
    assert all(v["key_enterprise"] for v in filed)
    with rpc(dept("tax")) as p:
        fourth = p.inspections.file_inspection(body("tax", enterprise_code=KEY_ENT, planned_date=day))
        # a refused filing (INS-1) never takes a place
        refused = p.inspections.file_inspection(body("tax", enterprise_code=KEY_ENT_2, planned_date=day,
                                                     items=["MKT-001"]))
    assert fourth["status"] == "pending_approval" and rules_of(fourth) == ["INS-3"]
    assert refused["status"] == "rejected"
    # another month is another count; a plain enterprise has no cap
    with rpc(dept("tax")) as p:
        other_month = p.inspections.file_inspection(body("tax", enterprise_code=KEY_ENT,
                                                         planned_date=next_month(3) + dt.timedelta(days=31)))
        plain = [p.inspections.file_inspection(body("tax", planned_date=day))["status"] for _ in range(4)]
    assert other_month["status"] == "approved" and plain == ["approved"] * 4
    # a cancelled visit frees its place: cancel one, and the next is within the cap …
    with rpc(dept("market")) as p:
        assert p.inspections.act(filed[0]["id"], "cancel", {"reason": "企业停产"})["status"] == "cancelled"
    with rpc(dept("hr")) as p:
        assert p.inspections.file_inspection(body("hr", enterprise_code=KEY_ENT, planned_date=day))[
            "status"] == "pending_approval"  # market cancelled, but tax's fourth still holds a place
    with rpc(dept("tax")) as p:
        p.inspections.act(fourth["id"], "cancel", {"reason": "改期"})
    with rpc(dept("hr")) as p:
        # … two approved + hr's pending = 3 counted: the next is over the cap again
        assert p.inspections.file_inspection(body("hr", enterprise_code=KEY_ENT, planned_date=day))[
            "status"] == "pending_approval"
    with rpc(TASKFORCE) as p:
        counted = [v for v in p.inspections.list_inspections({"enterprise_code": KEY_ENT,
                                                              "month": day.strftime("%Y-%m")})["items"]
                   if v["status"] in ("approved", "pending_approval")]
    assert len(counted) == 4


def test_two_departments_filing_at_once_cannot_both_take_the_last_place(ins_config, start_service, rpc):
    # rule: INS-3
    # Two instances of the service on one database, eight departments' filings at once.
    start_service(InspectionsService, **ins_config)
    start_service(InspectionsService, **ins_config)
    day = next_month(4)
    filers = ["market", "emergency", "ecology", "tax", "hr", "market", "emergency", "ecology"]

    def file(d):
        with rpc(dept(d)) as p:
            return p.inspections.file_inspection(body(d, enterprise_code=KEY_ENT, planned_date=day))

    results = list(eventlet.GreenPool(len(filers)).imap(file, filers))
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["approved"] * 3 + ["pending_approval"] * 5
    assert all(rules_of(r) == ["INS-3"] for r in results if r["status"] == "pending_approval")
    # and the last place, contested by two: exactly one more after a cancellation
    first_approved = next(r for r in results if r["status"] == "approved")
    with rpc(dept(first_approved["department"])) as p:
        p.inspections.act(first_approved["id"], "cancel", {"reason": "改期"})
    for r in results:
        if r["status"] == "pending_approval":
            with rpc(dept(r["department"])) as p:
                p.inspections.act(r["id"], "cancel", {"reason": "重新报备"})
    again = list(eventlet.GreenPool(2).imap(file, ["tax", "hr"]))
    assert sorted(r["status"] for r in again) == ["approved", "pending_approval"]


# -- INS-4: the head decides; the entry code ----------------------------------------------------------

def test_only_the_task_force_head_approves_and_approval_turns_the_code_green(inspections, rpc, event_tap):
    # rule: INS-4
    tap = event_tap("inspections", "inspection.*")
    with rpc(dept("market")) as p:
        first = p.inspections.file_inspection(body(planned_date=next_month(15)))
        second = p.inspections.file_inspection(body(planned_date=next_month(16)))
        with pytest.raises(Forbidden):
            p.inspections.act(first["id"], "approve", {})
    with rpc(TASKFORCE) as p:
        with pytest.raises(Forbidden):
            p.inspections.act(first["id"], "approve", {})
        assert p.inspections.get_inspection(first["id"])["status"] == "pending_approval"
    with rpc(HEAD) as p:
        approved = p.inspections.act(first["id"], "approve", {"note": "涉及重大项目，同意入企"})
        with pytest.raises(Conflict):
            p.inspections.act(first["id"], "approve", {})
        with pytest.raises(BadInput) as err:
            p.inspections.act(second["id"], "reject", {})
        assert "note" in err.value.errors
        with pytest.raises(NotFound):
            p.inspections.act(99999, "approve", {})
    assert approved["status"] == "approved" and approved["entry_code"] == "green"
    assert approved["decided_by"] == "taskforce:tf-head" and approved["violations"][0]["rule"] == "INS-2"
    with rpc(SCOPED_HEAD) as p:
        rejected = p.inspections.act(second["id"], "reject", {"note": "宁静日内无必要检查"})
    assert rejected["status"] == "rejected" and rejected["entry_code"] == "red"
    tap.drain(until=lambda r: len(r) >= 4)
    decided = {e["data"]["inspection_id"]: e for e in tap.received
               if e["event_type"] in ("inspection.approved", "inspection.rejected")}
    assert decided[first["id"]]["event_type"] == "inspection.approved"
    assert decided[first["id"]]["data"]["automatic"] is False
    assert decided[first["id"]]["data"]["decided_by"] == "taskforce:tf-head"
    assert decided[second["id"]]["event_type"] == "inspection.rejected"
    assert decided[second["id"]]["data"]["note"] == "宁静日内无必要检查"


def test_the_entry_code_is_a_qr_that_the_public_page_verifies(inspections, rpc):
    # rule: INS-4
    with rpc(dept("market")) as p:
        v = p.inspections.file_inspection(body(planned_date=next_month(20)))
        png = p.inspections.entry_code(v["id"], "png")
        svg = p.inspections.entry_code(v["id"], "svg")
        with pytest.raises(BadInput):
            p.inspections.entry_code(v["id"], "gif")
    import base64
    assert base64.b64decode(png["content_base64"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in base64.b64decode(svg["content_base64"])
    assert png["entry_code"] == "red" and png["token"] == v["token"]
    assert png["verify_url"] == f"{base_url(inspections)}/verify/{v['token']}"

    with rpc(None) as p:  # the public: no caller
        red = p.inspections.verify_code(v["token"])
    assert red["valid"] and red["entry_code"] == "red" and red["status"] == "pending_approval"

    # the service answers data; the gateway draws the page (test_gateway_inspections.py)
    with rpc(HEAD) as p:
        p.inspections.act(v["id"], "approve", {})
    with rpc(None) as p:
        green = p.inspections.verify_code(v["token"])  # the same printed code, now green
    assert green["valid"] and green["entry_code"] == "green"
    shown = json.dumps(green, ensure_ascii=False)
    for fact in ("示范县矿泉水有限公司", "县市场监督管理局", next_month(20).isoformat(), "田雨",
                 "43312601001", "彭晓"):
        assert fact in shown

    prefix, claims, mac = v["token"].split(".")
    forged_claims = base64.urlsafe_b64encode(
        f"{v['id']}|{KEY_ENT}|{next_month(20).isoformat()}".encode()).rstrip(b"=").decode()
    from services.inspections import codes
    other_key = codes.sign(b"not-the-county-key", v["id"], PLAIN, next_month(20))
    for bad in (f"{prefix}.{forged_claims}.{mac}",        # altered: another enterprise
                f"{prefix}.{claims}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",  # altered MAC
                other_key, "v1.garbage.garbage"):
        with rpc(None) as p:
            assert p.inspections.verify_code(bad) == {"valid": False}
    # HTML is the gateway's: the service serves no pages
    assert requests.get(f"{base_url(inspections)}/verify/{v['token']}", timeout=10).status_code == 404


def test_nobody_sees_a_visit_that_is_not_theirs(inspections, rpc):
    # rule: INS-4
    with rpc(dept("market")) as p:
        v = p.inspections.file_inspection(body())
    with rpc(dept("tax")) as p:
        with pytest.raises(NotFound):
            p.inspections.get_inspection(v["id"])
        with pytest.raises(NotFound):
            p.inspections.entry_code(v["id"])
        assert p.inspections.list_inspections({})["items"] == []
        with pytest.raises(NotFound):
            p.inspections.act(v["id"], "cancel", {"reason": "not mine"})
    with rpc(ent(KEY_ENT)) as p:
        with pytest.raises(NotFound):
            p.inspections.get_inspection(v["id"])
        assert p.inspections.list_inspections({})["items"] == []
    with rpc(ent(PLAIN)) as p:  # the enterprise visited sees it, and can check its code
        assert p.inspections.get_inspection(v["id"])["id"] == v["id"]
        assert p.inspections.entry_code(v["id"], "svg")["entry_code"] == "green"
        assert [i["id"] for i in p.inspections.list_inspections({})["items"]] == [v["id"]]


# -- INS-5: emergencies filed afterwards ------------------------------------------------------------------

def test_an_emergency_goes_at_once_and_a_late_record_is_flagged_across_national_day(
        inspections, rpc, event_tap):
    # rule: INS-5
    tap = event_tap("inspections", "inspection.*")
    with rpc(dept("emergency")) as p:
        v = p.inspections.file_inspection(body(
            "emergency", kind="emergency", planned_date="2026-09-30",
            reason="企业报告有毒气体泄漏，立即现场处置", enterprise_code=KEY_ENT))
    # approved at once, green, neither the quiet days nor the cap asked
    assert v["status"] == "approved" and v["entry_code"] == "green" and v["violations"] == []
    # 30 Sep + 3 working days: 1–7 Oct is the National Day holiday, Sat 10 Oct a make-up
    # working day → the end of 10 Oct, Shanghai time
    assert v["after_due_at"].startswith("2026-10-10T15:59:59.999999")
    with rpc(dept("emergency")) as p:
        filed = p.inspections.act(v["id"], "after-filing", {"record": "已关闭阀门，疏散人员，无人员伤亡"})
        with pytest.raises(Conflict):
            p.inspections.act(v["id"], "after-filing", {"record": "again"})
    assert filed["after_filed_at"] is not None
    assert filed["flag_reason"] == "late_filing" and filed["flagged_at"] is not None
    tap.drain(until=lambda r: any(e["event_type"] == "inspection.flagged" for e in r))
    flag = tap.of_type("inspection.flagged")[0]["data"]
    assert flag["inspection_id"] == v["id"] and flag["department"] == "emergency"
    assert flag["reason"] == "late_filing" and flag["due_at"].startswith("2026-10-10T15:59:59")
    after = tap.of_type("inspection.after_filed")[0]["data"]
    assert after["on_time"] is False
    with rpc(dept("market")) as p:  # a routine visit has nothing to file afterwards
        routine = p.inspections.file_inspection(body())
        with pytest.raises(Conflict):
            p.inspections.act(routine["id"], "after-filing", {"record": "x"})


def test_a_missing_record_is_flagged_once_by_the_sweep(ins_config, start_service, rpc, event_tap):
    # rule: INS-5
    tap = event_tap("inspections", "inspection.*")
    first = start_service(InspectionsService, **ins_config)
    with rpc(dept("emergency")) as p:
        overdue = p.inspections.file_inspection(body(
            "emergency", kind="emergency", planned_date=(today() - dt.timedelta(days=30)).isoformat(),
            reason="夜间突发火情"))
        fresh = p.inspections.file_inspection(body(
            "emergency", kind="emergency", planned_date=today().isoformat(), reason="暴雨导致厂房险情"))
        on_time = p.inspections.act(fresh["id"], "after-filing", {"record": "已排除险情"})
    assert on_time["flag_reason"] is None
    first.stop()
    # two instances sweeping every 0.1 s: the flag is raised once
    start_service(InspectionsService, **ins_config, SWEEP_INTERVAL_SECONDS=0.1)
    start_service(InspectionsService, **ins_config, SWEEP_INTERVAL_SECONDS=0.1)
    tap.drain(until=lambda r: any(e["event_type"] == "inspection.flagged" for e in r), timeout=30)
    tap.drain(timeout=1.5)  # many more sweeps: nothing new may come

    def distinct_flags():
        # the outbox delivers at least once (two relays on one SQLite file may both send
        # a row); consumers dedupe by event_id, so one decision = one event_id
        return list({f["event_id"]: f for f in tap.of_type("inspection.flagged")}.values())

    flags = distinct_flags()
    assert [(f["data"]["inspection_id"], f["data"]["reason"]) for f in flags] == [
        (overdue["id"], "missing_filing")]
    assert flags[0]["data"]["department"] == "emergency" and flags[0]["data"]["filed_at"] is None
    with rpc(dept("emergency")) as p:
        late = p.inspections.act(overdue["id"], "after-filing", {"record": "补报"})
        flagged = p.inspections.list_inspections({"flagged": True})["items"]
    assert late["flag_reason"] == "missing_filing"  # flagged once, not again as late
    assert [v["id"] for v in flagged] == [overdue["id"]]
    tap.drain(until=lambda r: len(tap.of_type("inspection.after_filed")) >= 2)
    assert len(distinct_flags()) == 1


def test_metrics_and_health(inspections, rpc):
    # rule: INS-5 (flags are visible to operators)
    with rpc(dept("emergency")) as p:
        p.inspections.file_inspection(body("emergency", kind="emergency",
                                           planned_date="2026-09-30", reason="险情"))
    with rpc(None) as p:
        assert p.inspections.ping()["status"] == "ok"
    assert requests.get(base_url(inspections) + "/healthz", timeout=10).json()["status"] == "ok"
    text = scrape_until(inspections, ["qinqing_outbox_pending", "qinqing_inspections_visits"])
    assert "qinqing_outbox_pending" in text and "qinqing_inspections_visits" in text
    assert 'qinqing_entrypoint_calls_total{entrypoint="file_inspection",service="inspections"} 1.0' in text
