"""Every service's table of states and actions is sound: each state can be
reached, each state that is not final has a way out, each flag is cleared
(``kernel.statemachine``)."""
import pytest

from kernel.errors import BadInput, Conflict, Forbidden
from kernel.rpc import Caller
from kernel.statemachine import Flag, StateMachine, Transition
from services.appeals import domain as appeals
from services.inspections import domain as inspections
from services.scoring import domain as scoring

MACHINES = {"appeal": appeals.MACHINE, "visit": inspections.VISIT,
            "follow-up": scoring.FOLLOWUP, "card": scoring.CARD}


@pytest.mark.parametrize("name", MACHINES)
def test_every_state_is_reached_and_every_non_final_state_has_a_way_out(name):
    # rule: APP-6
    # rule: INS-4
    # rule: SCO-1
    # rule: SCO-2
    machine = MACHINES[name]
    problems = [p for p in machine.problems() if "flag" not in p]
    assert problems == []


def test_the_visits_flags_are_cleared_or_kept_on_purpose():
    # rule: INS-5
    assert inspections.VISIT.problems() == []


def test_the_appeals_flags_are_cleared():
    # rule: APP-7
    assert appeals.MACHINE.problems() == []


def test_the_check_finds_an_unreachable_state_a_dead_end_and_a_flag_never_cleared():
    # rule: APP-6
    broken = StateMachine("thing", initial={"new"}, final={"done"}, transitions={
        "start": Transition({"new"}, {"admin"}, "busy"),
        "park": Transition({"busy"}, {"admin"}, "parked"),  # parked: no way out
        "finish": Transition({"orphan"}, {"admin"}, "done"),  # orphan: never reached
    }, flags=[Flag("marked", set_by=frozenset({"start"}))])
    problems = broken.problems()
    assert "thing: state 'orphan' cannot be reached" in problems
    assert "thing: state 'done' cannot be reached" in problems
    assert "thing: state 'parked' is not final and has no way out" in problems
    assert "thing: state 'orphan' is not final and has no way out" not in problems  # it leaves
    assert any("flag 'marked'" in p and "never cleared" in p for p in problems)


def test_outcomes_count_as_ways_out():
    # rule: APP-6
    m = StateMachine("thing", initial={"a"}, final={"b", "c"}, transitions={
        "decide": Transition({"a"}, {"admin"}, outcomes={"b", "c"})})
    assert m.problems() == []


class _Obj:
    status = "a"
    owner = "x"


def test_check_refuses_role_state_and_guard_and_resolves_relations():
    # rule: APP-6
    m = StateMachine("thing", initial={"a"}, final={"b"}, transitions={
        "go": Transition({"a"}, {"owner"}, "b", guard=lambda o, p: "no" if p.get("stop") else None)})
    owner = Caller(role="enterprise", sub="u", org="x")
    other = Caller(role="enterprise", sub="v", org="y")
    rel = lambda name, obj, caller: name == "owner" and caller.org == obj.owner  # noqa: E731
    with pytest.raises(BadInput):
        m.check("fly", _Obj(), owner, relation=rel)
    with pytest.raises(Forbidden):
        m.check("go", _Obj(), other, relation=rel)
    with pytest.raises(Conflict):
        m.check("go", _Obj(), owner, {"stop": True}, relation=rel)
    done = _Obj()
    done.status = "b"
    with pytest.raises(Conflict):
        m.check("go", done, owner, relation=rel)
    assert m.check("go", _Obj(), owner, relation=rel).target == "b"
