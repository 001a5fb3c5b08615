"""The inspections service's entrypoints in-process, on a real database:
the visit's table of actions (``act``), the draw (INS-6) and the task force's
watch over emergencies and exemptions (INS-2/3/5). Fast: no broker."""
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from kernel.calendar import SHANGHAI, utcnow
from kernel.errors import BadInput, Conflict, Forbidden, NotFound
from kernel.rpc import Caller
from services.inspections.service import InspectionsService

DATA = Path(__file__).resolve().parent.parent / "data" / "inspections"
PLAIN = "91433126MA4L00060G"      # small food company
PLAIN_2 = "92433126MA4L00040B"    # catering
HEAD = Caller(role="taskforce", sub="tf-head", org="taskforce")
TASKFORCE = Caller(role="taskforce", sub="tf-1", org="taskforce")
MARKET = Caller(role="department", sub="clerk-market", org="market")
TAX = Caller(role="department", sub="clerk-tax", org="tax")
SPEC = {"title": "2026年食品生产经营双随机抽查", "item_codes": ["MKT-002"],
        "filters": {"industry": ["food", "catering", "retail"]}, "count": 2}


def today():
    return utcnow().astimezone(SHANGHAI).date()


def next_month(day):
    t = today()
    return dt.date(t.year + t.month // 12, t.month % 12 + 1, day)


def filing(**overrides):
    b = {"enterprise_code": PLAIN, "kind": "routine", "planned_date": next_month(5).isoformat(),
         "items": ["MKT-001"], "inspectors": ["MKT-I-01", "MKT-I-03"], "reason": "年度计划内检查"}
    b.update(overrides)
    return b


def emergency(**overrides):
    return filing(kind="emergency", planned_date=today().isoformat(), reason="举报: 食品安全隐患",
                  **overrides)


@pytest.fixture
def config():
    return {"INS_SEED_REGISTERS": str(DATA / "registers.json"),
            "INS_SEED_DIRECTORY": str(DATA / "directory.csv"),
            "INS_NO_PENALTY_FILE": str(DATA / "no_penalty.json"),
            "INS_CODE_KEY": "service-tier-code-key",
            "INS_TASKFORCE_HEADS": ["tf-head"],
            "INS_MONTHLY_EXCEPTIONS": 1}


@pytest.fixture
def svc(in_process, config):
    return in_process(InspectionsService, **config)


# -- the visit's table, through one act RPC -------------------------------------------------

def test_act_decides_a_pending_visit_and_refuses_what_the_table_forbids(svc):
    # rule: INS-4
    pending = svc.as_(MARKET).file_inspection(filing(planned_date=next_month(12).isoformat()))
    assert pending["status"] == "pending_approval"
    with pytest.raises(Forbidden):  # a task-force member who is not the head
        svc.as_(TASKFORCE).act(pending["id"], "approve", {})
    with pytest.raises(BadInput) as err:
        svc.as_(HEAD).act(pending["id"], "fly", {})
    assert "action" in err.value.errors
    with pytest.raises(BadInput) as err:  # a refusal names its reason field
        svc.as_(HEAD).act(pending["id"], "reject", {})
    assert "note" in err.value.errors
    with pytest.raises(NotFound):  # not the tax office's visit: it does not exist for it
        svc.as_(TAX).act(pending["id"], "cancel", {"reason": "x"})
    approved = svc.as_(HEAD).act(pending["id"], "approve", {"note": "同意"})
    assert approved["status"] == "approved" and approved["entry_code"] == "green"
    with pytest.raises(Conflict):  # decided once
        svc.as_(HEAD).act(pending["id"], "reject", {"note": "再议"})
    cancelled = svc.as_(MARKET).act(pending["id"], "cancel", {"reason": "企业停产"})
    assert cancelled["status"] == "cancelled"
    assert [h["action"] for h in cancelled["history"]] == ["file", "approve", "cancel"]


def test_an_idempotent_filing_is_filed_once(svc):
    # rule: INS-4
    one = svc.as_(MARKET).file_inspection(filing(idempotency_key="k-1"))
    two = svc.as_(MARKET).file_inspection(filing(idempotency_key="k-1"))
    assert one["id"] == two["id"]
    assert len(svc.events("inspection.filed")) == 1


# -- INS-6: the seed comes from the platform --------------------------------------------------

def test_ins6_draw_seed_comes_from_the_platform_after_the_population_digest(svc):
    # rule: INS-6
    with pytest.raises(BadInput) as err:  # the drawing department never picks the seed
        svc.as_(MARKET).draw({**SPEC, "seed": "chosen-offline"})
    assert "seed" in err.value.errors
    assert svc.call("list_draws", {}) == []  # a refused draw leaves nothing
    drawn = svc.as_(MARKET).draw(SPEC)
    assert len(drawn["seed"]) == 64 and drawn["population"] == 4
    inputs = {"candidates": drawn["candidates"], "roster": drawn["roster"],
              "conflicts": drawn["conflicts"], "count": 2, "per_target": drawn["per_target"]}
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":"))
                            .encode()).hexdigest()
    assert drawn["population_digest"] == digest
    assert drawn["population_fixed_at"] <= drawn["seeded_at"]


def test_ins6_every_draw_attempt_is_kept_and_public(svc):
    # rule: INS-6
    first = svc.as_(MARKET).draw(SPEC)
    second = svc.as_(MARKET).draw(SPEC)  # drawing again shows
    assert (first["attempt"], second["attempt"]) == (1, 2)
    public = svc.call("list_draws", {})  # no caller: public
    assert [(d["id"], d["attempt"]) for d in public] == [(second["id"], 2), (first["id"], 1)]
    assert all(d["population_digest"] == first["population_digest"] for d in public)


def test_ins6_replay_recomputes_a_draw_for_anyone(svc):
    # rule: INS-6
    drawn = svc.as_(MARKET).draw(SPEC)
    again = svc.call("replay_draw", drawn["id"])  # no caller
    assert again["matches"] is True and again["digest_matches"] is True
    assert again["population_digest"] == drawn["population_digest"]
    assert [t["credit_code"] for t in again["result"]] == [t["credit_code"] for t in drawn["targets"]]
    with pytest.raises(NotFound):
        svc.call("replay_draw", 999)


# -- INS-2/3/5: emergencies and exemptions watched ------------------------------------------

def test_ins5_every_exempted_or_emergency_visit_is_listed_for_the_task_force(svc):
    # rule: INS-5
    # rule: INS-2
    urgent = svc.as_(MARKET).file_inspection(emergency())
    exempt = svc.as_(MARKET).file_inspection(filing(planned_date=next_month(12).isoformat(),
                                                    exempt_category="public_safety"))
    svc.as_(MARKET).file_inspection(filing(enterprise_code=PLAIN_2))  # an ordinary visit
    listed = svc.as_(TASKFORCE).list_exceptions({})
    assert sorted(v["id"] for v in listed["items"]) == sorted([urgent["id"], exempt["id"]])
    with pytest.raises(Forbidden):  # the task force's list
        svc.as_(MARKET).list_exceptions({})


def test_ins5_head_reviews_each_emergency_after_filing(svc):
    # rule: INS-5
    urgent = svc.as_(MARKET).file_inspection(emergency())
    with pytest.raises(Conflict):  # nothing to review before the record is filed
        svc.as_(HEAD).act(urgent["id"], "review", {"verdict": "accepted", "reason": "ok"})
    svc.as_(MARKET).act(urgent["id"], "after-filing", {"record": "现场检查, 责令整改"})
    with pytest.raises(Forbidden):
        svc.as_(TASKFORCE).act(urgent["id"], "review", {"verdict": "accepted", "reason": "ok"})
    with pytest.raises(BadInput) as err:
        svc.as_(HEAD).act(urgent["id"], "review", {"verdict": "flagged"})
    assert "reason" in err.value.errors
    reviewed = svc.as_(HEAD).act(urgent["id"], "review",
                                 {"verdict": "flagged", "reason": "并非紧急, 应事前报备"})
    assert reviewed["review"] == "flagged" and reviewed["review_reason"] == "并非紧急, 应事前报备"
    assert svc.events("inspection.reviewed")[0]["verdict"] == "flagged"
    with pytest.raises(Conflict):  # once
        svc.as_(HEAD).act(urgent["id"], "review", {"verdict": "accepted", "reason": "改判"})


def test_ins3_a_departments_exceptions_beyond_the_monthly_number_are_flagged(svc):
    # rule: INS-3
    # rule: INS-2
    first = svc.as_(MARKET).file_inspection(emergency())
    second = svc.as_(MARKET).file_inspection(emergency(enterprise_code=PLAIN_2))
    other = svc.as_(TAX).file_inspection(emergency(items=["TAX-001"],
                                                   inspectors=["TAX-I-01", "TAX-I-02"]))
    assert (first["over_quota"], second["over_quota"], other["over_quota"]) == (False, True, False)
    listed = {v["id"]: v for v in svc.as_(TASKFORCE).list_exceptions({})["items"]}
    assert listed[second["id"]]["over_quota"] is True


# -- INS-1: the registers keep their change history -------------------------------------------

def test_ins1_registers_keep_a_change_history_per_department(svc):
    # rule: INS-1
    item = {"code": "MKT-009", "department": "market", "name": "计量器具检查",
            "legal_basis": "《计量法》第二十一条", "standard": "强检器具在检定有效期内"}
    svc.as_(TASKFORCE).upsert_item(item)
    svc.as_(TASKFORCE).upsert_item({**item, "standard": "强检器具检定合格且在有效期内"})
    person = {"code": "MKT-I-09", "department": "market", "name": "周敏",
              "certificate_no": "43312601099"}
    svc.as_(MARKET).upsert_inspector(person)
    svc.as_(MARKET).upsert_inspector({**person, "active": False})
    history = svc.as_(MARKET).register_history({"department": "market"})
    mine = [(h["register"], h["code"], h["change"]) for h in history["items"]
            if h["code"] in ("MKT-009", "MKT-I-09")]
    assert mine == [("inspector", "MKT-I-09", "update"), ("inspector", "MKT-I-09", "create"),
                    ("item", "MKT-009", "update"), ("item", "MKT-009", "create")]
    latest_item = next(h for h in history["items"] if h["code"] == "MKT-009")
    assert latest_item["fields"] == {"standard": ["强检器具在检定有效期内", "强检器具检定合格且在有效期内"]}
    assert latest_item["actor"] == "taskforce:tf-1"
    deactivated = next(h for h in history["items"] if h["code"] == "MKT-I-09")
    assert deactivated["fields"] == {"active": [True, False]}
    with pytest.raises(NotFound):  # another department's history is not the tax office's
        svc.as_(TAX).register_history({"department": "market"})
    assert svc.as_(TAX).register_history({})["items"] == [] or all(
        h["department"] == "tax" for h in svc.as_(TAX).register_history({})["items"])
