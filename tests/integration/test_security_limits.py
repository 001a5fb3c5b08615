"""Rate limits that hold behind a load balancer (issue 13): anonymous callers
keyed on X-Forwarded-For only through a trusted proxy; limits shared by every
gateway replica through Redis (the real one at 127.0.0.1:6379), in memory when
Redis is absent. Real gateways over HTTP, real broker and database."""
import socket
import uuid

import pytest

from tests.conftest import ENTERPRISE_A
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    assert_problem, bearer, stack)

pytestmark = [pytest.mark.integration, pytest.mark.db_independent]

REDIS_URL = "redis://127.0.0.1:6379/0"
PUBLIC = "/open311/v2/services.json"  # an anonymous read
SLOW = {"GATEWAY_RATE_PER_SECOND": 0.001}  # nothing refills during a test


def redis_running():
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


def test_two_gateway_replicas_share_one_limit_through_redis(stack):
    # rule: GW-1
    if not redis_running():
        pytest.skip("no Redis on 127.0.0.1:6379")
    shared = dict(SLOW, GATEWAY_RATE_BURST=4, GATEWAY_REDIS_URL=REDIS_URL,
                  GATEWAY_RATE_NAMESPACE=f"qq-test-{uuid.uuid4().hex[:8]}")
    one, two = stack.gateway(**shared), stack.gateway(**shared)
    ent = bearer("enterprise", ENTERPRISE_A, sub="user-a")
    answers = [api.get("/api/v1/reference", who=ent).status_code for api in (one, two, one, two)]
    assert answers == [200] * 4
    assert_problem(two.get("/api/v1/reference", who=ent), 429)  # two replicas, one limit
    assert_problem(one.get("/api/v1/reference", who=ent), 429)
    # another principal has its own allowance on both replicas
    assert one.get("/api/v1/reference", who=bearer("enterprise", ENTERPRISE_A, sub="user-b")).status_code == 200


def test_without_redis_each_gateway_limits_in_memory(stack):
    # rule: GW-1
    api = stack.gateway(**SLOW, GATEWAY_RATE_BURST=2, GATEWAY_REDIS_URL="redis://127.0.0.1:1/0")
    assert [api.get(PUBLIC).status_code for _ in range(3)] == [200, 200, 429]


def test_forwarded_for_counts_only_through_a_trusted_proxy(stack):
    # rule: GW-1
    behind = stack.gateway(**SLOW, GATEWAY_RATE_BURST=2, TRUSTED_PROXIES="127.0.0.1/32, ::1")
    xff = lambda chain: {"X-Forwarded-For": chain}  # noqa: E731
    assert [behind.get(PUBLIC, headers=xff("203.0.113.5")).status_code for _ in range(3)] == [200, 200, 429]
    # another client behind the same proxy has its own bucket …
    assert behind.get(PUBLIC, headers=xff("203.0.113.6")).status_code == 200
    # … but a client cannot escape its own by prepending addresses of its choosing
    assert behind.get(PUBLIC, headers=xff("198.51.100.1, 203.0.113.5")).status_code == 429

    # a gateway that trusts no proxy here keys on the connection: spoofing buys nothing
    direct = stack.gateway(**SLOW, GATEWAY_RATE_BURST=2, TRUSTED_PROXIES="10.0.0.0/8")
    answers = [direct.get(PUBLIC, headers=xff(f"203.0.113.{i}")).status_code for i in range(3)]
    assert answers == [200, 200, 429]
