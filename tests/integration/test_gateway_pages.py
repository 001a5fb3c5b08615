"""The routes that serve the task force's pages (gateway/routes/pages.py).

What the pages do in a browser is proved by tests/e2e (``make e2e``); here the
gateway's side: the files are served, nothing else is, and the development
sign-in exists only in development mode.
"""
import pytest

from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    api, assert_problem, stack)

pytestmark = [pytest.mark.integration, pytest.mark.db_independent]

OPERATIONS = {("/ui", "get"), ("/ui/{page}", "get"), ("/ui/static/{name}", "get"),
              ("/ui/vendor/echarts.min.js", "get"), ("/ui/dev-token", "post")}


def test_pages_scripts_and_echarts_are_served_without_a_credential(api):
    # rule: GW-1 (the pages are static; every piece of data comes from the API with a token)
    home = api.get("/ui", allow_redirects=False)
    assert home.status_code == 302 and home.headers["Location"] == "/ui/ledger"
    for page in ("signin", "ledger", "appeal", "calendar", "rankings", "live", "ops"):
        r = api.get(f"/ui/{page}")
        assert r.status_code == 200 and r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert '<html lang="zh-CN">' in r.text and 'name="viewport"' in r.text
    js = api.get("/ui/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["Content-Type"]
    assert "Authorization" in js.text and "sessionStorage" in js.text
    charts = api.get("/ui/vendor/echarts.min.js")  # from web/node_modules (npm ci)
    assert charts.status_code == 200 and "echarts" in charts.text[:5000].lower()


def test_nothing_but_the_pages_files_is_served(api):
    # rule: GW-1 (no path reaches another file of the gateway)
    for path in ("/ui/static/../routes/pages.py", "/ui/static/pages.py", "/ui/static/%2e%2e/auth.py",
                 "/ui/nope", "/ui/static/app.js.map"):
        assert api.get(path).status_code == 404, path


def test_development_sign_in_does_not_exist_in_production_mode(api):
    # rule: GW-2 (a gateway with a real secret never mints with the development one)
    assert_problem(api.get("/ui/dev-signin"), 404)
    r = api.post("/ui/dev-token", json={"role": "taskforce", "org": "taskforce"})
    assert_problem(r, 404)
    assert "token" not in r.json()


def test_development_sign_in_mints_a_token_the_api_accepts(stack):
    # rule: GW-2 (development mode only: GATEWAY_DEV=1 and no secret)
    dev = stack.gateway(GATEWAY_JWT_SECRET="", GATEWAY_DEV="1")
    assert dev.get("/ui/dev-signin").status_code == 200
    made = dev.post("/ui/dev-token", json={"role": "department", "org": "approval", "sub": "clerk-li"})
    assert made.status_code == 200, made.text
    token = made.json()["token"]
    assert dev.get("/api/v1/reference", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # bad input names each field and mints nothing
    r = dev.post("/ui/dev-token", json={"role": "root", "org": "approval"})
    assert_problem(r, 422, "role")
    r = dev.post("/ui/dev-token", json={"role": "department", "org": "no-such-dept"})
    assert_problem(r, 422, "org")
    r = dev.post("/ui/dev-token", json={"role": "taskforce", "extra": 1})
    assert_problem(r, 422, "extra")
