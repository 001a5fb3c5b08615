"""Fixtures and helpers shared by the gateway tests (this module holds no tests).

A real appeals container and a real gateway container on the real broker and
database (SQLite, or PostgreSQL with QQ_TEST_DB=postgres); the tests speak
HTTP to the gateway with ``requests``, as a client would.
"""
import datetime as dt
import logging

import eventlet
import jwt
import pytest
import requests

from gateway.service import GatewayService
from kernel.logs import ContextFilter
from services.appeals.service import AppealsService
from tests.conftest import ENTERPRISE_A, ENTERPRISE_B

SECRET = "gateway-test-secret-0123456789abcdef-0123"
TASKFORCE_ORIGIN = "https://taskforce.example.gov.cn"
# A generous limit for every test but the one about limits.
UNLIMITED = {"GATEWAY_RATE_BURST": 100_000, "GATEWAY_RATE_PER_SECOND": 100_000}


def token(role, org="", sub=None, secret=SECRET, ttl=3600, algorithm="HS256", headers=None,
          **claims):
    now = dt.datetime.now(dt.timezone.utc)
    body = {"sub": sub or f"{role}-{org or 'x'}", "role": role, "org": org,
            "exp": now + dt.timedelta(seconds=ttl), **claims}
    return jwt.encode(body, secret, algorithm=algorithm, headers=headers)


def bearer(role, org="", **kw):
    return {"Authorization": f"Bearer {token(role, org, **kw)}"}


def appeal_body(**overrides):
    body = {"channel": "mini_program", "category": "permit", "town": "hongshi",
            "title": "营业执照变更迟迟未办", "content": "提交材料已两周, 仍未办结",
            "contact_name": "张明", "contact_phone": "13912340001",
            "enterprise_code": ENTERPRISE_A}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


class Api:
    """HTTP to one gateway: ``api.post("/api/v1/appeals", who=..., json=...)``."""

    def __init__(self, container):
        self.container = container
        self.base = f"http://{container.config['WEB_SERVER_ADDRESS']}"
        self.session = requests.Session()
        self.session.trust_env = False  # never through a proxy from the environment

    def __call__(self, method, path, who=None, headers=None, **kw):
        merged = dict(who or {})
        merged.update(headers or {})
        return self.session.request(method, self.base + path, headers=merged, timeout=60, **kw)

    def get(self, path, who=None, **kw):
        return self("GET", path, who, **kw)

    def post(self, path, who=None, **kw):
        return self("POST", path, who, **kw)

    def delete(self, path, who=None, **kw):
        return self("DELETE", path, who, **kw)

    def close(self):
        self.session.close()


class Stack:
    """The appeals service and the gateways of one test."""

    def __init__(self, start_service, db_factory):
        self._start, self._db = start_service, db_factory
        self.apis = []
        self.appeals = start_service(AppealsService, DB_URL=db_factory("appeals"))

    def gateway(self, **config):
        """A new gateway container, as an Api."""
        cfg = {"DB_URL": self._db("gateway"), "GATEWAY_JWT_SECRET": SECRET,
               "GATEWAY_CORS_ORIGINS": TASKFORCE_ORIGIN, **UNLIMITED}
        cfg.update(config)
        api = Api(self._start(GatewayService, **cfg))
        self.apis.append(api)
        return api

    def close(self):
        """Stop every container at once: a nameko container takes ~2 s to stop
        (its consumers drain with a 1 s safety interval), so one by one the
        suite would mostly wait. The conftest's own stop then finds them stopped."""
        for api in self.apis:
            api.close()
        pool = eventlet.GreenPool()
        for container in [self.appeals] + [api.container for api in self.apis]:
            pool.spawn(container.stop)
        pool.waitall()


@pytest.fixture
def stack(start_service, db_factory):
    stack = Stack(start_service, db_factory)
    yield stack
    stack.close()


@pytest.fixture
def api(stack):
    return stack.gateway()


def make_key(api, kind, code, label="test system"):
    r = api.post("/api/v1/api-keys", who=bearer("admin", sub="admin-1"),
                 json={"kind": kind, "code": code, "label": label})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def who(api):
    """Every kind of caller, as the headers it sends. API keys are made by an
    admin through the gateway, as in production."""
    channel_key = make_key(api, "channel", "hotline_12345", "12345 热线平台")
    department_key = make_key(api, "department", "approval", "行政审批局业务系统")
    return {
        "anonymous": {},
        "ent_a": bearer("enterprise", ENTERPRISE_A, sub="user-a"),
        "ent_b": bearer("enterprise", ENTERPRISE_B, sub="user-b"),
        "lead": bearer("department", "approval", sub="clerk-approval"),  # leads permit appeals
        "co": bearer("department", "market", sub="clerk-market"),  # co-handles them
        "other_dept": bearer("department", "tax", sub="clerk-tax"),
        "taskforce": bearer("taskforce", "taskforce", sub="tf-1"),
        "admin": bearer("admin", sub="admin-1"),
        "channel_key": {"X-API-Key": channel_key["key"]},
        "dept_key": {"X-API-Key": department_key["key"]},
    }


def assert_problem(response, status, field=None):
    """A problem+json answer with this status (naming ``field`` for bad input)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    if field is not None:  # nested fields are named by dotted path: attachments.0.url
        assert any(k == field or k.startswith(field + ".") for k in body["errors"]), (field, body)
    return body


class LogTap(logging.Handler):
    """Records every log line with the context the kernel puts on it
    (service, call id, request id), as the production handler does."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.addFilter(ContextFilter())
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def log_tap():
    tap = LogTap()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)  # the gateway's access lines are INFO
    root.addHandler(tap)
    yield tap
    root.removeHandler(tap)
    root.setLevel(level)
