"""The inspections service's pure rules: no broker, no database."""
import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from kernel.calendar import WorkingCalendar
from kernel.rpc import Caller
from services.inspections import codes, directory, domain
from services.inspections.domain import (APPROVED, EMERGENCY, PENDING, REJECTED, ROUTINE, Policy)

DATA = Path(__file__).resolve().parent.parent / "data" / "inspections"
TOWNS = {"chengguan": {"name": "城关镇"}, "hongshi": {"name": "红石林镇"},
         "moshi": {"name": "默戎镇"}, "park": {"name": "县工业集中区"}}
POLICY = Policy(no_penalty=(domain.NoPenaltyEntry("SWBF-MKT-01", "MKT-LICENCE-DISPLAY",
                                                  "未悬挂营业执照，首次且及时改正"),))


# -- INS-2 quiet days ---------------------------------------------------------------

@pytest.mark.parametrize("day,quiet", [(9, False), (10, True), (17, True), (25, True), (26, False)])
def test_quiet_days_are_the_10th_to_the_25th_inclusive(day, quiet):
    # rule: INS-2
    assert domain.in_quiet_days(dt.date(2026, 12, day), POLICY) is quiet
    found = domain.quiet_day_violations(dt.date(2026, 12, day), None, POLICY)
    assert [v["rule"] for v in found] == (["INS-2"] if quiet else [])


def test_an_exempt_category_lifts_the_quiet_days_an_unknown_one_does_not():
    # rule: INS-2
    day = dt.date(2026, 12, 15)
    assert domain.quiet_day_violations(day, "public_safety", POLICY) == []
    assert domain.quiet_day_violations(day, "special_industry", POLICY) == []
    assert domain.quiet_day_violations(day, "friendly_chat", POLICY)[0]["rule"] == "INS-2"


def test_the_window_and_the_exemptions_are_configuration():
    # rule: INS-2
    county = Policy(quiet_days=(1, 5), exempt_categories={"flood": "防汛"})
    assert domain.quiet_day_violations(dt.date(2026, 12, 15), None, county) == []
    assert domain.quiet_day_violations(dt.date(2026, 12, 3), None, county)[0]["rule"] == "INS-2"
    assert domain.quiet_day_violations(dt.date(2026, 12, 3), "flood", county) == []
    assert domain.quiet_day_violations(dt.date(2026, 12, 3), "public_safety", county) != []
    with pytest.raises(ValueError):
        Policy(quiet_days=(25, 10))


# -- INS-3 the cap ---------------------------------------------------------------------

def ent(**flags):
    base = {"above_scale": False, "key_investment": False, "key_project": False}
    return SimpleNamespace(**{**base, **flags})


def test_a_key_enterprise_is_above_scale_key_investment_or_key_project():
    # rule: INS-3
    assert not domain.is_key_enterprise(ent())
    assert domain.is_key_enterprise(ent(above_scale=True))
    assert domain.is_key_enterprise(ent(key_investment=True))
    assert domain.is_key_enterprise(ent(key_project=True))


@pytest.mark.parametrize("counted,over", [(0, False), (2, False), (3, True), (7, True)])
def test_the_fourth_visit_in_a_month_to_a_key_enterprise_is_over_the_cap(counted, over):
    # rule: INS-3
    found = domain.cap_violations(True, counted, POLICY)
    assert [v["rule"] for v in found] == (["INS-3"] if over else [])
    assert domain.cap_violations(False, counted, POLICY) == []  # others have no cap
    assert domain.cap_violations(True, counted, Policy(monthly_cap=5)) == (
        [] if counted < 5 else domain.cap_violations(True, counted, Policy(monthly_cap=5)))


def test_only_live_visits_count_toward_the_cap():
    # rule: INS-3
    assert domain.COUNTING == {PENDING, APPROVED, domain.COMPLETED}
    for gone in (domain.CANCELLED, REJECTED, domain.MERGED):
        assert gone not in domain.COUNTING
    assert domain.month_of(dt.date(2026, 12, 31)) == "2026-12"


# -- INS-1 the registers, INS-4/5 the decision --------------------------------------------

ITEMS = {"MKT-001": domain.ItemInfo("MKT-001", "market", "营业执照检查"),
         "EMG-001": domain.ItemInfo("EMG-001", "emergency", "安全生产检查"),
         "MKT-OLD": domain.ItemInfo("MKT-OLD", "market", "已取消", active=False)}
PEOPLE = {"M1": domain.InspectorInfo("M1", "market", "田雨"),
          "M2": domain.InspectorInfo("M2", "market", "向东", conflicts=frozenset({"E-CONFLICT"})),
          "M3": domain.InspectorInfo("M3", "market", "龙静", certificate_expires=dt.date(2026, 1, 1)),
          "E1": domain.InspectorInfo("E1", "emergency", "石磊")}


def test_items_and_inspectors_must_be_on_the_departments_lists():
    # rule: INS-1
    day = dt.date(2026, 12, 3)
    check = lambda depts, items, people, ent="E": domain.register_violations(  # noqa: E731
        depts, ent, day, items, people, ITEMS, PEOPLE)
    assert check(["market"], ["MKT-001"], ["M1"]) == []
    assert [v["rule"] for v in check(["market"], ["EMG-001"], ["M1"])] == ["INS-1"]
    assert "not on the county's list" in check(["market"], ["NOPE"], ["M1"])[0]["message"]
    assert "not on the county's list" in check(["market"], ["MKT-OLD"], ["M1"])[0]["message"]
    assert "roster of emergency" in check(["market"], ["MKT-001"], ["E1"])[0]["message"]
    assert "not on the roster" in check(["market"], ["MKT-001"], ["X9"])[0]["message"]
    assert "certificate expires" in check(["market"], ["MKT-001"], ["M3"])[0]["message"]
    # a joint visit covers the lists of all its departments
    assert check(["market", "emergency"], ["MKT-001", "EMG-001"], ["M1", "E1"]) == []


def test_an_inspector_with_a_declared_conflict_is_not_sent():
    # rule: INS-6
    found = domain.register_violations(["market"], "E-CONFLICT", dt.date(2026, 12, 3),
                                       ["MKT-001"], ["M2"], ITEMS, PEOPLE)
    assert [v["rule"] for v in found] == ["INS-6"]


def test_the_decision_refused_pending_or_approved():
    # rule: INS-4
    ins1, ins2, ins3 = ([domain.violation(r, "x")] for r in ("INS-1", "INS-2", "INS-3"))
    assert domain.assess(ROUTINE, [], [], []).status == APPROVED
    assert domain.assess(ROUTINE, [], ins2, []).status == PENDING
    assert domain.assess(ROUTINE, [], [], ins3).status == PENDING
    refused = domain.assess(ROUTINE, ins1, ins2, ins3)
    assert refused.status == REJECTED and [v["rule"] for v in refused.violations] == [
        "INS-1", "INS-2", "INS-3"]
    assert refused.entry_code == "red" and domain.assess(ROUTINE, [], [], []).entry_code == "green"
    assert domain.entry_code(PENDING) == "red" and domain.entry_code(domain.COMPLETED) == "green"


def test_an_emergency_goes_at_once_but_not_outside_the_registers():
    # rule: INS-5
    ins1 = [domain.violation("INS-1", "x")]
    assert domain.assess(EMERGENCY, [], [], []).status == APPROVED
    assert domain.assess(EMERGENCY, ins1, [], []).status == REJECTED


def test_only_the_task_force_head_decides():
    # rule: INS-4
    heads = frozenset({"tf-head"})
    assert domain.may_approve(Caller("taskforce", "tf-head", "taskforce"), heads)
    assert domain.may_approve(Caller("taskforce", "someone", "taskforce",
                                     scopes=("inspections:approve",)), heads)
    assert not domain.may_approve(Caller("taskforce", "tf-1", "taskforce"), heads)
    assert not domain.may_approve(Caller("department", "tf-head", "market"), heads)
    assert not domain.may_approve(Caller("admin", "root", "", scopes=("inspections:approve",)), heads)


# -- INS-5 the after-the-fact deadline ----------------------------------------------------

def test_the_record_is_due_three_working_days_later_across_national_day():
    # rule: INS-5
    cal = WorkingCalendar()
    # 30 Sep 2026 (Wed); 1–7 Oct off; Thu 8, Fri 9, Sat 10 Oct (make-up day) working.
    due = domain.after_filing_due(dt.date(2026, 9, 30), cal, POLICY)
    assert due == dt.datetime(2026, 10, 10, 15, 59, 59, 999999, tzinfo=dt.timezone.utc)
    # an ordinary week: Mon 16 Nov 2026 + 3 → Thu 19 Nov
    assert cal.local_date(domain.after_filing_due(dt.date(2026, 11, 16), cal, POLICY)) == \
        dt.date(2026, 11, 19)


def test_a_late_or_missing_record_is_flagged_once():
    # rule: INS-5
    due = dt.datetime(2026, 10, 10, 16, tzinfo=dt.timezone.utc)
    before, after = due - dt.timedelta(hours=1), due + dt.timedelta(hours=1)
    assert domain.flag_reason(due, None, False, before) is None
    assert domain.flag_reason(due, None, False, after) == domain.MISSING_FILING
    assert domain.flag_reason(due, before, False, after) is None
    assert domain.flag_reason(due, after, False, after) == domain.LATE_FILING
    assert domain.flag_reason(due, None, True, after) is None  # already flagged
    assert domain.flag_reason(due, after, True, after) is None


# -- INS-6 the draw --------------------------------------------------------------------------

POPULATION = [f"E{i:02d}" for i in range(20)]
ROSTER = ["I1", "I2", "I3", "I4", "I5"]


def test_a_draw_is_reproducible_from_its_seed():
    # rule: INS-6
    one = domain.draw("seed-42", POPULATION, ROSTER, set(), 6, 2)
    again = domain.draw("seed-42", list(reversed(POPULATION)), list(reversed(ROSTER)), set(), 6, 2)
    other = domain.draw("seed-43", POPULATION, ROSTER, set(), 6, 2)
    assert one == again  # the order inputs come in does not matter
    assert one != other
    assert len({t["credit_code"] for t in one}) == 6
    assert all(len(t["inspectors"]) == 2 and len(set(t["inspectors"])) == 2 for t in one)


def test_a_draw_never_sends_an_inspector_with_a_declared_conflict():
    # rule: INS-6
    conflicts = {(i, e) for i in ("I1", "I2", "I3") for e in POPULATION[:10]}
    for seed in ("a", "b", "c", "d"):
        for t in domain.draw(seed, POPULATION, ROSTER, conflicts, 20, 2):
            for i in t["inspectors"]:
                assert (i, t["credit_code"]) not in conflicts


def test_a_draw_spreads_the_work_and_refuses_what_it_cannot_do():
    # rule: INS-6
    result = domain.draw("spread", POPULATION, ROSTER, set(), 10, 2)
    load = {i: sum(i in t["inspectors"] for t in result) for i in ROSTER}
    assert set(load.values()) == {4}  # 20 assignments over 5 people
    with pytest.raises(domain.DrawError) as err:
        domain.draw("x", POPULATION, ROSTER, set(), 21, 2)
    assert err.value.field == "count"
    with pytest.raises(domain.DrawError) as err:
        domain.draw("x", ["E01"], ROSTER, {(i, "E01") for i in ROSTER[:4]}, 1, 2)
    assert err.value.field == "department"


def test_the_draw_population_is_the_filtered_directory():
    # rule: INS-6
    rows = [SimpleNamespace(credit_code=c, industry=i, town=t, size=s, above_scale=k,
                            key_investment=False, key_project=False)
            for c, i, t, s, k in [("A", "food", "park", "small", False),
                                  ("B", "food", "moshi", "large", True),
                                  ("C", "mining", "park", "large", True)]]
    assert domain.filter_directory(rows) == ["A", "B", "C"]
    assert domain.filter_directory(rows, industry=["food"]) == ["A", "B"]
    assert domain.filter_directory(rows, town=["park"], size=["large"]) == ["C"]
    assert domain.filter_directory(rows, key_only=True) == ["B", "C"]


# -- INS-8 首违不罚 ------------------------------------------------------------------------------

def test_a_first_minor_violation_on_the_list_is_not_penalised_and_names_the_entry():
    # rule: INS-8
    judged = domain.judge_finding("violation", "MKT-LICENCE-DISPLAY", "minor", 0, POLICY)
    assert judged["penalised"] is False and judged["first_offence"] is True
    assert judged["no_penalty"].code == "SWBF-MKT-01"


@pytest.mark.parametrize("code,severity,earlier", [
    ("MKT-LICENCE-DISPLAY", "minor", 1),      # not the first time
    ("MKT-LICENCE-DISPLAY", "general", 0),    # not minor
    ("MKT-FAKE-GOODS", "minor", 0),           # not on the list
])
def test_anything_else_is_penalised(code, severity, earlier):
    # rule: INS-8
    judged = domain.judge_finding("violation", code, severity, earlier, POLICY)
    assert judged["penalised"] is True and judged["no_penalty"] is None
    assert domain.judge_finding("compliant", None, None, 0, POLICY)["penalised"] is False


# -- INS-4 the signed token ----------------------------------------------------------------------

KEY = b"unit-test-key"


def test_a_genuine_token_verifies_and_carries_the_visit():
    # rule: INS-4
    token = codes.sign(KEY, 42, "91433126MA4L00010B", dt.date(2026, 12, 3))
    claims = codes.verify(KEY, token)
    assert claims == codes.TokenClaims(42, "91433126MA4L00010B", dt.date(2026, 12, 3))


def test_a_forged_or_altered_token_is_invalid():
    # rule: INS-4
    import base64
    token = codes.sign(KEY, 42, "91433126MA4L00010B", dt.date(2026, 12, 3))
    prefix, body, mac = token.split(".")
    other_body = base64.urlsafe_b64encode(b"43|91433126MA4L00010B|2026-12-03").rstrip(b"=").decode()
    assert codes.verify(KEY, f"{prefix}.{other_body}.{mac}") is None  # another visit, same MAC
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    assert codes.verify(KEY, f"{prefix}.{body}.{flipped}") is None
    assert codes.verify(b"another-key", token) is None  # forged with another key
    for junk in ("", "v1..", "v2." + body + "." + mac, token + ".x", None, 42, "v1.%%%.abc",
                 "v1.中文.abc"):
        assert codes.verify(KEY, junk) is None


def test_the_qr_code_renders_in_png_and_svg():
    # rule: INS-4
    png = codes.render("http://example.org/verify/abc", "green", "png")
    svg = codes.render("http://example.org/verify/abc", "red", "svg")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in svg and b"#c5221f" in svg


# -- the directory CSV --------------------------------------------------------------------------

def test_bad_rows_are_reported_by_line_and_column_and_the_rest_loads():
    # rule: INS-6 (the directory the draw reads)
    parsed = directory.parse((DATA / "bad_rows.csv").read_text(encoding="utf-8"), TOWNS)
    errors = {(e["line"], e["column"]) for e in parsed.errors}
    assert errors == {(3, "统一社会信用代码"), (4, "所属乡镇"), (5, "联系电话"), (7, "规上企业"),
                      (8, "企业名称"), (8, "企业规模"), (9, "统一社会信用代码")}
    assert parsed.total == 8  # records, not lines: line 5–6 is one
    loaded = {line: row for line, row in parsed.rows}
    assert sorted(loaded) == [2, 10]
    assert loaded[10]["town"] == "hongshi"  # a town given by its name
    assert loaded[2]["contact_phone"] == "+8613912340007" and loaded[2]["above_scale"] is True
    dup = next(e for e in parsed.errors if e["line"] == 9)
    assert "line 2" in dup["message"]


def test_english_headers_and_a_missing_required_column():
    # rule: INS-6 (the directory the draw reads)
    text = "credit_code,name,town,size,above_scale\n91433126MA4L00010B,茶业,hongshi,medium,yes\n"
    parsed = directory.parse("\ufeff" + text, TOWNS)
    assert parsed.errors == [] and parsed.rows[0][1]["size"] == "medium"
    with pytest.raises(directory.HeaderError) as err:
        directory.parse("企业名称,所属乡镇\n茶业,hongshi\n", TOWNS)
    assert "统一社会信用代码" in str(err.value)
