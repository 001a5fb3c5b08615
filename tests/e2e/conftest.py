"""The task force's pages in a real browser, against the platform as ``make run``
starts it (``scripts/run_platform.py``): every service its own process, on
spare ports, with a RabbitMQ vhost and a var folder of this run's own.

Run with ``make e2e`` (it installs Debian's chromium and ECharts first). These
tests need no eventlet: pytest is started with ``--confcutdir=tests/e2e`` so the
suite's conftest (which monkey-patches) is not loaded, and they are skipped
unless ``QQ_E2E=1`` (so ``pytest tests`` does not start a browser by accident).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("QQ_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "docs" / "screenshots"
AMQP_HOST = os.environ.get("QQ_TEST_AMQP_HOST", "127.0.0.1:5672")
DEV_SECRET = "qinqing-development-secret-never-use-in-production"  # docs/api.md


def pytest_collection_modifyitems(config, items):
    if os.environ.get("QQ_E2E") == "1":
        return
    skip = pytest.mark.skip(reason="end-to-end: run with `make e2e` (QQ_E2E=1)")
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(skip)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rabbitmqctl(*args):
    ctl = shutil.which("rabbitmqctl")
    return bool(ctl) and subprocess.run([ctl, *args], capture_output=True,
                                        timeout=60).returncode == 0


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    """The running platform: ``{"base": "http://127.0.0.1:<port>", "var": Path}``."""
    var = tmp_path_factory.mktemp("platform")
    vhost = f"qq-e2e-{uuid.uuid4().hex[:8]}"
    if _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
            "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"):
        amqp = f"amqp://guest:guest@{AMQP_HOST}/{quote(vhost, safe='')}"
    else:
        vhost, amqp = None, f"amqp://guest:guest@{AMQP_HOST}//"
    port = _free_port()
    env = dict(os.environ, AMQP_URI=amqp, GATEWAY_DEV="1", GATEWAY_PORT=str(port),
               QQ_VAR_DIR=str(var), PYTHONPATH=str(ROOT),
               APPEALS_WEB_SERVER_ADDRESS=f"127.0.0.1:{_free_port()}",
               INS_WEB_SERVER_ADDRESS=f"127.0.0.1:{_free_port()}",
               SCORING_WEB_SERVER_ADDRESS=f"127.0.0.1:{_free_port()}",
               NOTIFY_WEB_SERVER_ADDRESS=f"127.0.0.1:{_free_port()}",
               NOTIFY_SANDBOX_PORT=str(_free_port()), NOTIFY_DB_URL=f"sqlite:///{var}/notify.db",
               APPEALS_DB_URL=f"sqlite:///{var}/appeals.db", DB_URL=f"sqlite:///{var}/inspections.db",
               SCORING_DB_URL=f"sqlite:///{var}/scoring.db", GATEWAY_DB_URL=f"sqlite:///{var}/gateway.db",
               # the ranking needs ten ratings a subject by default; three keep the run short
               SCO_MIN_RATINGS="3", SCO_SSE_POLL_SECONDS="0.2",
               GATEWAY_RATE_BURST="2000", GATEWAY_RATE_PER_SECOND="500")
    env.pop("GATEWAY_JWT_SECRET", None)
    log = open(var / "run_platform.log", "wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "run_platform.py")], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if b"is running" in (var / "run_platform.log").read_bytes():
                break
            time.sleep(0.5)
        if proc.poll() is not None or b"is running" not in (var / "run_platform.log").read_bytes():
            logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                             for p in sorted(var.glob("*.log")))
            pytest.fail(f"the platform did not start:\n{logs}")
        yield {"base": base, "var": var}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # run_platform stops its services in order
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        if vhost:
            _rabbitmqctl("delete_vhost", vhost)


def mint(role, org="", sub=None, scope=""):
    """A development token, as ``python -m gateway.token --dev`` makes it."""
    import datetime as dt

    import jwt
    now = dt.datetime.now(dt.timezone.utc)
    claims = {"sub": sub or f"e2e-{role}", "role": role, "org": org, "iat": now,
              "exp": now + dt.timedelta(hours=2)}
    if scope:
        claims["scope"] = scope
    return jwt.encode(claims, DEV_SECRET, algorithm="HS256")


class Api:
    """The public API as a test's setup calls it (plain HTTP, no browser)."""

    def __init__(self, base):
        self.base = base

    def call(self, method, path, token, body=None, headers=None, ok=(200, 201)):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        assert status in ok, f"{method} {path} → {status} {text[:500]}"
        return json.loads(text) if text else None


@pytest.fixture(scope="session")
def api(platform):
    return Api(platform["base"])


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}


@pytest.fixture
def signed_in(browser, platform):
    """``signed_in(token, width="desktop")`` → a page signed in with that token
    through the sign-in form (the token pasted, as a user would)."""
    contexts = []

    def open_as(token, width="desktop"):
        ctx = browser.new_context(viewport=WIDTHS[width], locale="zh-CN",
                                  device_scale_factor=1, is_mobile=width == "phone")
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        page.goto(platform["base"] + "/ui/signin")
        page.get_by_label("访问令牌").fill(token)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url("**/ui/ledger**")
        return page

    yield open_as
    for ctx in contexts:
        ctx.close()


def shoot(page, name, width):
    """docs/screenshots/<name>-<width>.png, the whole page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
