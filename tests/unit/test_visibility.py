"""kernel.visibility: the table of who sees an object (GW-2)."""
from types import SimpleNamespace

import pytest

from kernel.errors import NotFound
from kernel.rpc import Caller
from kernel.visibility import Visibility

RULES = Visibility("thing", enterprise=lambda thing, caller: thing.owner == caller.org)
THING = SimpleNamespace(owner="A")


@pytest.mark.parametrize("caller,sees", [
    (Caller(role="enterprise", sub="u", org="A"), True),
    (Caller(role="enterprise", sub="u", org="B"), False),
    (Caller(role="department", sub="u", org="A"), False),  # no rule for the role: nothing
    (Caller(role="taskforce", sub="tf"), True),
    (Caller(role="admin", sub="root"), True),
    (Caller(role="system", sub="system"), True),
])
def test_staff_see_all_and_another_role_what_its_rule_says(caller, sees):
    assert RULES.can_see(THING, caller) is sees


def test_what_a_caller_may_not_see_does_not_exist_for_it():
    assert RULES.check(THING, Caller(role="enterprise", sub="u", org="A")) is THING
    with pytest.raises(NotFound, match="no such thing"):
        RULES.check(THING, Caller(role="enterprise", sub="u", org="B"))
    with pytest.raises(NotFound, match="no such thing"):
        RULES.check(None, Caller(role="taskforce", sub="tf"))
