"""The appeals service's entrypoints in-process, on a real database: the
closed loop's refusals (APP-6), idempotent intake (APP-1), who sees what
(GW-2) and the task force's routing table (APP-2). Fast: no broker."""
import pytest

from kernel.errors import BadInput, Conflict, Forbidden, NotFound, Unauthorized
from kernel.rpc import Caller
from services.appeals.service import AppealsService
from tests.conftest import ENTERPRISE_A, ENTERPRISE_B
from tests.integration.test_appeals_flow import new_appeal

ENT_A = Caller(role="enterprise", sub="user-a", org=ENTERPRISE_A)
ENT_B = Caller(role="enterprise", sub="user-b", org=ENTERPRISE_B)
APPROVAL = Caller(role="department", sub="clerk-approval", org="approval")
TAX = Caller(role="department", sub="clerk-tax", org="tax")
TASKFORCE = Caller(role="taskforce", sub="tf-1", org="taskforce")
HOTLINE = Caller(role="channel", sub="key-12345", org="hotline_12345")


@pytest.fixture
def svc(in_process):
    return in_process(AppealsService)


def test_the_closed_loop_refuses_the_wrong_caller_state_and_action(svc):
    # rule: APP-6
    a = svc.as_(ENT_A).create_appeal(new_appeal())
    assert a["status"] == "assigned" and a["lead_department"] == "approval"
    with pytest.raises(Unauthorized):  # no caller at all
        svc.call("act", a["id"], "accept", {})
    with pytest.raises(NotFound):  # not its appeal: it does not exist for the tax office
        svc.as_(TAX).act(a["id"], "accept", {})
    with pytest.raises(Forbidden):  # the enterprise sees it but does not accept it
        svc.as_(ENT_A).act(a["id"], "accept", {})
    with pytest.raises(Conflict):  # a reply before it is accepted
        svc.as_(APPROVAL).act(a["id"], "reply", {"content": "已办结"})
    with pytest.raises(BadInput) as err:
        svc.as_(APPROVAL).act(a["id"], "fly", {})
    assert "action" in err.value.errors
    svc.as_(APPROVAL).act(a["id"], "accept", {})
    replied = svc.as_(APPROVAL).act(a["id"], "reply", {"content": "已办结, 请查收"})
    assert replied["status"] == "replied"
    with pytest.raises(NotFound):  # another enterprise cannot rate it
        svc.as_(ENT_B).act(a["id"], "feedback", {"rating": 5})
    done = svc.as_(ENT_A).act(a["id"], "feedback", {"rating": 5})
    assert done["status"] == "closed"
    types = [t for t in ("appeal.created", "appeal.assigned", "appeal.replied", "appeal.closed")
             if svc.events(t)]
    assert types == ["appeal.created", "appeal.assigned", "appeal.replied", "appeal.closed"]


def test_a_bad_rating_reopens_for_the_same_department_under_review(svc):
    # rule: APP-7
    a = svc.as_(ENT_A).create_appeal(new_appeal())
    svc.as_(APPROVAL).act(a["id"], "accept", {})
    svc.as_(APPROVAL).act(a["id"], "reply", {"content": "已答复"})
    reopened = svc.as_(ENT_A).act(a["id"], "feedback", {"rating": 1, "comment": "没解决"})
    assert (reopened["status"], reopened["under_review"]) == ("accepted", True)
    assert reopened["lead_department"] == "approval" and reopened["reopen_count"] == 1
    assert len(svc.events("appeal.review_opened")) == 1


def test_intake_is_idempotent_per_caller_and_a_channel_key_files_for_its_channel(svc):
    # rule: APP-1
    one = svc.as_(ENT_A).create_appeal(new_appeal(idempotency_key="form-1"))
    again = svc.as_(ENT_A).create_appeal(new_appeal(idempotency_key="form-1"))
    other = svc.as_(ENT_B).create_appeal(new_appeal(idempotency_key="form-1",
                                                   enterprise_code=ENTERPRISE_B))
    assert one["id"] == again["id"] != other["id"]
    assert len(svc.events("appeal.created")) == 2
    via = svc.as_(HOTLINE).create_appeal(new_appeal(channel="leaders_wechat",
                                                    enterprise_code=ENTERPRISE_A))
    assert via["channel"] == "hotline_12345"  # the key's channel, whatever the body says
    with pytest.raises(BadInput) as err:  # refused, and nothing stored
        svc.as_(ENT_A).create_appeal(new_appeal(contact_phone="12345"))
    assert "contact_phone" in err.value.errors
    assert len(svc.events("appeal.created")) == 3


def test_only_the_task_force_keeps_the_routing_table(svc):
    # rule: APP-2
    route = {"category": "permit", "town": "*", "lead_department": "tax", "co_departments": []}
    with pytest.raises(Forbidden):
        svc.as_(APPROVAL).set_route(route)
    with pytest.raises(BadInput) as err:
        svc.as_(TASKFORCE).set_route({**route, "lead_department": "nowhere"})
    assert "lead_department" in err.value.errors
    svc.as_(TASKFORCE).set_route(route)
    assert svc.as_(ENT_A).create_appeal(new_appeal(town="moshi"))["lead_department"] == "tax"
    with pytest.raises(NotFound):
        svc.as_(TASKFORCE).delete_route("permit", "atlantis")


def test_ids_from_outside_are_never_a_500(svc):
    # rule: GW-2
    for bad in ("abc", -1, 0, None, "1; drop table"):
        with pytest.raises(NotFound):
            svc.as_(TASKFORCE).get_appeal(bad)
