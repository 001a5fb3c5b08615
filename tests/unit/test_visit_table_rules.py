"""The rules added with the visit's table, without I/O: who may take which
action on a visit (INS-4/5), the draw's digest (INS-6), the exceptions' count
(INS-2/3/5) and the registers' change history (INS-1)."""
from types import SimpleNamespace

import pytest

from kernel.errors import Conflict, Forbidden
from kernel.rpc import Caller
from services.inspections import domain

HEADS = frozenset({"tf-head"})
HEAD = Caller(role="taskforce", sub="tf-head", org="taskforce")
SCOPED = Caller(role="taskforce", sub="tf-2", org="taskforce", scopes=("inspections:approve",))
MEMBER = Caller(role="taskforce", sub="tf-1", org="taskforce")
MARKET = Caller(role="department", sub="c", org="market")
TAX = Caller(role="department", sub="c", org="tax")


def visit(**kw):
    base = dict(status=domain.APPROVED, kind=domain.EMERGENCY, department="market",
                departments=["market", "tax"], after_filed_at=None, review=None)
    base.update(kw)
    return SimpleNamespace(**base)


def check(action, v, caller, params=None):
    return domain.VISIT.check(action, v, caller, params or {}, domain.visit_relation(HEADS))


def test_only_the_head_decides_and_reviews():
    # rule: INS-4
    pending = visit(status=domain.PENDING, kind=domain.ROUTINE)
    assert check("approve", pending, HEAD).target == domain.APPROVED
    assert check("reject", pending, SCOPED).target == domain.REJECTED
    for who in (MEMBER, MARKET, Caller(role="admin", sub="a")):
        with pytest.raises(Forbidden):
            check("approve", pending, who)
    with pytest.raises(Conflict):
        check("approve", visit(status=domain.APPROVED), HEAD)


def test_the_filer_cancels_and_the_participants_file_and_record():
    # rule: INS-5
    # rule: INS-8
    v = visit(kind=domain.ROUTINE)
    assert check("cancel", v, MARKET).target == domain.CANCELLED
    with pytest.raises(Forbidden):  # a partner department is not the filer
        check("cancel", v, TAX)
    assert check("results", v, TAX).outcomes == {domain.APPROVED, domain.COMPLETED}
    with pytest.raises(Forbidden):
        check("results", v, Caller(role="department", sub="c", org="ecology"))
    with pytest.raises(Conflict, match="emergency"):
        check("after-filing", v, MARKET)
    check("after-filing", visit(), TAX)
    with pytest.raises(Conflict, match="already filed"):
        check("after-filing", visit(after_filed_at="t"), MARKET)
    with pytest.raises(Conflict):
        check("cancel", visit(status=domain.COMPLETED), MARKET)


def test_the_head_reviews_an_emergencys_record_once_it_is_filed():
    # rule: INS-5
    with pytest.raises(Conflict, match="once it is filed"):
        check("review", visit(), HEAD)
    with pytest.raises(Conflict, match="once it is filed"):
        check("review", visit(kind=domain.ROUTINE, after_filed_at="t"), HEAD)
    assert check("review", visit(after_filed_at="t"), HEAD).target is None
    assert check("review", visit(status=domain.COMPLETED, after_filed_at="t"), HEAD)
    with pytest.raises(Conflict, match="already reviewed"):
        check("review", visit(after_filed_at="t", review="accepted"), HEAD)
    with pytest.raises(Forbidden):
        check("review", visit(after_filed_at="t"), MEMBER)
    assert domain.visit_relation(HEADS)("stranger", visit(), HEAD) is False


def test_exceptions_are_emergencies_or_exemptions_counted_per_month():
    # rule: INS-2
    # rule: INS-3
    assert domain.is_exception(domain.EMERGENCY, None)
    assert domain.is_exception(domain.ROUTINE, "public_safety")
    assert not domain.is_exception(domain.ROUTINE, None)
    policy = domain.Policy(monthly_exceptions=2)
    assert [domain.beyond_monthly_exceptions(n, policy) for n in (0, 1, 2, 3)] == [
        False, False, True, True]
    assert domain.beyond_monthly_exceptions(0, domain.Policy(monthly_exceptions=0))
    with pytest.raises(ValueError):
        domain.Policy(monthly_exceptions=-1)


def test_the_draws_digest_covers_every_input_in_any_order():
    # rule: INS-6
    base = domain.population_digest(["b", "a"], ["i2", "i1"], [["i1", "a"]], 1, 2)
    assert base == domain.population_digest(["a", "b"], ["i1", "i2"], [("i1", "a")], 1, 2)
    assert len(base) == 64 and int(base, 16) >= 0
    for other in (domain.population_digest(["a"], ["i1", "i2"], [["i1", "a"]], 1, 2),
                  domain.population_digest(["a", "b"], ["i1"], [["i1", "a"]], 1, 2),
                  domain.population_digest(["a", "b"], ["i1", "i2"], [], 1, 2),
                  domain.population_digest(["a", "b"], ["i1", "i2"], [["i1", "a"]], 2, 2),
                  domain.population_digest(["a", "b"], ["i1", "i2"], [["i1", "a"]], 1, 1)):
        assert other != base


def test_a_register_change_names_each_field_before_and_after():
    # rule: INS-1
    assert domain.register_change(None, {"name": "x", "active": True}) == (
        "create", {"active": [None, True], "name": [None, "x"]})
    assert domain.register_change({"name": "x", "active": True},
                                  {"name": "y", "active": True}) == ("update", {"name": ["x", "y"]})
    assert domain.register_change({"name": "x"}, {"name": "x"}) is None


def test_anyone_recomputes_the_digest_from_the_published_inputs():
    # rule: INS-6
    # The format is public (the draw page says how): canonical JSON of the
    # sorted inputs, keys sorted, no spaces, non-ASCII as \u escapes, SHA-256 in hex.
    import hashlib
    canonical = ('{"candidates":["a","b"],"conflicts":[["i1","a"]],"count":1,'
                 '"per_target":2,"roster":["i1","i2"]}')
    assert domain.population_digest(["b", "a"], ["i2", "i1"], [("i1", "a")], 1, 2) == \
        hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert domain.population_digest(["企业"], [], [], 1, 1) == hashlib.sha256(
        '{"candidates":["\\u4f01\\u4e1a"],"conflicts":[],"count":1,"per_target":1,"roster":[]}'
        .encode("ascii")).hexdigest()
