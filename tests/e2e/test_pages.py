"""The task force's pages (issue #18) in headless Chromium, against the
platform started as ``make run`` starts it. Each page is also photographed at
desktop (1280) and phone (360) width into docs/screenshots/.
"""
import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import mint, shoot

pytestmark = pytest.mark.e2e

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
TASKFORCE = mint("taskforce", "taskforce", "tf-wang")
APPROVAL = mint("department", "approval", "clerk-li")
MARKET = mint("department", "market", "clerk-1")
ENTERPRISES = ["91433126MA4L00010B", "91433126MA4L00020C", "91433126MA4L00030D",
               "92433126MA4L00040B", "91433126MA4L00050F", "91433126MA4L00060G"]
WINDOWS = {"win_approval_1": 5, "win_approval_2": 5, "win_tax_1": 4, "win_tax_2": 4,
           "win_market_1": 3, "win_housing_1": 3, "win_hr_1": 2, "win_natres_1": 2,
           "win_finance_1": 3}
UNITS = {"approval": 5, "tax": 4, "market": 4, "housing": 3, "hr": 3, "town_hongshi": 2}


def appeal(api, category, title, days_ago):
    received = (dt.datetime.now(SHANGHAI) - dt.timedelta(days=days_ago)).isoformat()
    return api.call("POST", "/api/v1/appeals", TASKFORCE, {
        "channel": "hotline_12345", "category": category, "town": "hongshi", "title": title,
        "content": "企业反映的问题（端到端测试）", "contact_name": "张明",
        "contact_phone": "13912340001", "enterprise_code": "91433126MA4L00010B",
        "received_at": received})


@pytest.fixture(scope="module")
def data(api):
    """What the pages show: appeals (one long overdue), ratings enough to rank, a
    published ranking, a live session."""
    overdue = appeal(api, "tax", "退税迟迟未到账（已超期）", 20)  # ≤ RECEIVED_AT_MAX_DAYS
    permit = appeal(api, "permit", "营业执照变更迟迟未办", 0)
    for scores, kind in ((WINDOWS, "w"), (UNITS, "u")):
        for code, score in scores.items():
            for i, ent in enumerate(ENTERPRISES[:3]):
                api.call("POST", "/api/v1/ratings", mint("enterprise", ent, f"e{i}"), {
                    "subject_code": code, "service_event": f"e2e-{kind}-{code}-{i}",
                    "score": max(1, min(5, score - (i == 2)))})
    month = dt.datetime.now(SHANGHAI).strftime("%Y-%m")
    ranking = api.call("POST", "/api/v1/rankings", TASKFORCE,
                       {"kind": "windows_monthly", "period": month})
    session = api.call("POST", "/api/v1/sessions", TASKFORCE,
                       {"title": "百户企业评议（测试）", "departments": ["approval", "tax", "market"]})
    return {"overdue": overdue, "permit": permit, "ranking": ranking, "session": session,
            "month": month}


def next_quiet_day():
    """A date in the quiet days (INS-2: the 10th to the 25th) not in the past."""
    today = dt.datetime.now(SHANGHAI).date()
    if today.day <= 25:
        return today.replace(day=max(today.day, 15) if today.day > 10 else 15)
    first = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=15)
    return first


# rule: APP-6 (the closed loop: the task force assigns an overdue appeal), GW-2
def test_taskforce_finds_an_overdue_appeal_assigns_it_and_sees_the_timeline(data, signed_in):
    page = signed_in(TASKFORCE)
    page.get_by_label("是否超期").select_option("true")
    page.get_by_role("button", name="查询").click()
    row = page.locator(f'tr[data-id="{data["overdue"]["id"]}"]')
    expect(row).to_have_attribute("data-overdue", "true")
    expect(row).to_contain_text("超期")
    expect(page.locator(f'tr[data-id="{data["permit"]["id"]}"]')).to_have_count(0)
    page.get_by_label("是否超期").select_option("")
    page.get_by_role("button", name="查询").click()
    expect(page.locator(f'tr[data-id="{data["permit"]["id"]}"]')).to_have_count(1)
    expect(page.locator("#by-status")).to_contain_text("超期")
    for width in ("desktop", "phone"):
        page.set_viewport_size({"width": 1280 if width == "desktop" else 360, "height": 800})
        shoot(page, "ledger", width)
    page.set_viewport_size({"width": 1280, "height": 800})

    row.get_by_role("link", name=str(data["overdue"]["title"])).click()
    page.wait_for_url(re.compile(r"/ui/appeal\?id=\d+"))
    timeline = page.locator("#timeline li")
    expect(timeline).to_have_count(2)  # filed, routed to the tax bureau
    before = 2
    # the task force's actions, not a department's
    expect(page.locator("[data-action=assign]")).to_be_visible()
    expect(page.locator("[data-action=accept]")).to_have_count(0)
    page.locator("[data-action=assign]").click()
    page.get_by_label("牵头部门").select_option("finance")
    page.get_by_label("说明").fill("专班改派：属惠企政策兑现")
    page.get_by_role("button", name="提交：交办").click()
    expect(page.get_by_role("status")).to_contain_text("已交办")
    expect(timeline).to_have_count(before + 1)
    expect(timeline.last).to_contain_text("专班改派")
    expect(page.locator("#facts")).to_contain_text("财政局" if "财政" in page.content() else "finance")
    shoot(page, "appeal", "desktop")
    page.set_viewport_size({"width": 360, "height": 740})
    shoot(page, "appeal", "phone")


# rule: GW-2 (a department sees only its own appeals, on every page)
def test_a_department_does_not_see_another_departments_appeals(data, signed_in, platform):
    page = signed_in(APPROVAL)
    expect(page.locator(f'tr[data-id="{data["permit"]["id"]}"]')).to_have_count(1)
    expect(page.locator(f'tr[data-id="{data["overdue"]["id"]}"]')).to_have_count(0)
    assert "退税迟迟未到账" not in page.content()
    # its role's actions only: accept/reply…, never the task force's assign
    page.goto(f'{platform["base"]}/ui/appeal?id={data["permit"]["id"]}')
    expect(page.locator("[data-action=accept]")).to_be_visible()
    expect(page.locator("[data-action=assign]")).to_have_count(0)
    # another department's appeal by its address: 404, exactly like one that does not exist
    page.goto(f'{platform["base"]}/ui/appeal?id={data["overdue"]["id"]}')
    expect(page.get_by_role("alert")).to_contain_text("404")
    assert "退税迟迟未到账" not in page.content()
    for name in ("calendar", "rankings", "live", "ops"):
        page.goto(f'{platform["base"]}/ui/{name}')
        page.wait_for_load_state("networkidle")
        assert "退税迟迟未到账" not in page.content()


# rule: INS-2 (a visit on a quiet day is flagged before it is sent and by the API), INS-3
def test_a_visit_on_a_quiet_day_is_flagged(data, signed_in, platform, api):
    page = signed_in(MARKET)
    day = next_quiet_day()
    page.goto(f'{platform["base"]}/ui/calendar?month={day:%Y-%m}')
    expect(page.locator(f'.day.quiet[data-date="{day:%Y-%m}-10"]')).to_have_count(1)
    expect(page.locator(f'.day[data-date="{day:%Y-%m}-09"]')).not_to_have_class(re.compile("quiet"))
    page.get_by_label("企业统一社会信用代码").fill("91433126MA4L00060G")
    page.get_by_label("计划日期").fill(day.isoformat())
    page.get_by_label("检查事项代码").fill("MKT-001")
    page.get_by_label("检查人员代码").fill("MKT-I-01, MKT-I-03")
    page.get_by_label("事由").fill("年度检查")
    # before it is sent: the page names the rule
    expect(page.locator('#precheck [data-rule="INS-2"]')).to_be_visible()
    page.get_by_role("button", name="报备").click()
    result = page.locator("#filed-result")
    expect(result).to_contain_text("待审批")
    expect(result.locator('[data-rule="INS-2"]')).to_be_visible()  # the API's violations
    visit = page.locator(f'.day[data-date="{day.isoformat()}"] .visit.red')
    expect(visit).to_have_count(1)
    expect(page.locator("#review")).to_contain_text("INS-2")
    # a key enterprise one visit short of its monthly cap (INS-3) is marked
    for i in range(2):
        api.call("POST", "/api/v1/inspections", MARKET, {
            "enterprise_code": "91433126MA4L00020C", "kind": "research", "items": [],
            "planned_date": day.isoformat(), "inspectors": ["MKT-I-01", "MKT-I-03"],
            "reason": "政策调研"}, headers={"Idempotency-Key": f"e2e-cap-{i}"})
    page.get_by_role("button", name="查看").click()
    expect(page.locator(".visit.near-cap")).to_have_count(2)
    expect(page.locator(".visit.near-cap").first).to_contain_text("★2/3")
    shoot(page, "calendar", "desktop")
    page.set_viewport_size({"width": 360, "height": 740})
    shoot(page, "calendar", "phone")
    # another department's calendar does not show market's visit
    other = signed_in(APPROVAL)
    other.goto(f'{platform["base"]}/ui/calendar?month={day:%Y-%m}')
    other.wait_for_load_state("networkidle")
    expect(other.locator(".visit")).to_have_count(0)
    assert "矿泉水" not in other.content() and "新材料" not in other.content()


# rule: SCO-3 (best and worst drawn; a published ranking verifies), SCO-7
def test_rankings_are_drawn_and_a_published_ranking_verifies(data, signed_in, platform):
    page = signed_in(TASKFORCE)
    page.goto(f'{platform["base"]}/ui/rankings?month={data["month"]}')
    for chart in ("chart-month-best", "chart-month-worst", "chart-quarter"):
        node = page.locator(f"#{chart}")
        expect(node).to_have_attribute("data-drawn", "true")
        canvas = node.locator("canvas").first
        box = canvas.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, (chart, box)
    best = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-month-best'))"
                         ".getOption().series[0].data")
    assert len(best) == 5 and best == sorted(best, reverse=True)
    worst = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-month-worst'))"
                          ".getOption().series[0].data")
    assert len(worst) == 3 and min(worst) < min(best)
    verify = page.locator(f'[data-verify="{data["ranking"]["id"]}"]')
    verify.click()
    expect(verify.locator("xpath=..")).to_contain_text("一致")
    expect(page.locator("#red li").first).not_to_be_empty()
    page.wait_for_timeout(500)  # the line chart's notices
    shoot(page, "rankings", "desktop")
    page.set_viewport_size({"width": 360, "height": 740})
    page.wait_for_timeout(300)
    shoot(page, "rankings", "phone")


# rule: SCO-6 (the live board updates as scores arrive)
def test_the_live_screen_follows_the_session(data, signed_in, platform, api):
    page = signed_in(TASKFORCE)
    sid = data["session"]["session_id"]
    page.goto(f'{platform["base"]}/ui/live?session={sid}')
    expect(page.locator("#state")).to_contain_text("评议中")
    api.call("POST", f"/api/v1/sessions/{sid}/scores", mint("enterprise", ENTERPRISES[0], "r1"),
             {"department": "tax", "score": 92})
    expect(page.locator("#board tr").first).to_contain_text("92.0")
    api.call("POST", f"/api/v1/sessions/{sid}/scores", mint("enterprise", ENTERPRISES[1], "r2"),
             {"department": "approval", "score": 97})
    expect(page.locator("#board tr").first).to_contain_text("97.0")
    shoot(page, "live", "desktop")
    page.set_viewport_size({"width": 360, "height": 740})
    shoot(page, "live", "phone")


# rule: GW-1 (operations: each service up or down, from the public probes)
def test_operations_and_sign_in_pages(signed_in, platform, browser):
    page = signed_in(TASKFORCE)
    page.goto(f'{platform["base"]}/ui/ops')
    for component in ("appeals", "inspections", "scoring", "notify", "broker"):
        expect(page.locator(f'tr[data-component="{component}"]')).to_contain_text("正常")
    shoot(page, "ops", "desktop")
    page.set_viewport_size({"width": 360, "height": 740})
    shoot(page, "ops", "phone")
    # sign-in pages: the development sign-in exists (GATEWAY_DEV=1) and mints a token
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    anon = ctx.new_page()
    anon.goto(f'{platform["base"]}/ui/ledger')
    anon.wait_for_url("**/ui/signin**")
    expect(anon.get_by_role("link", name=re.compile("开发环境登录"))).to_be_visible()
    shoot(anon, "signin", "desktop")
    anon.get_by_role("link", name=re.compile("开发环境登录")).click()
    shoot(anon, "dev-signin", "desktop")
    anon.get_by_role("button", name="签发并登录").click()
    anon.wait_for_url("**/ui/ledger**")
    # a forged token is refused by the API and the page says so
    anon.goto(f'{platform["base"]}/ui/signin')
    anon.get_by_label("访问令牌").fill(mint("taskforce")[:-4] + "AAAA")
    anon.get_by_role("button", name="登录").click()
    expect(anon.get_by_role("alert")).to_contain_text("401")
    anon.set_viewport_size({"width": 360, "height": 740})
    shoot(anon, "signin", "phone")
    ctx.close()
