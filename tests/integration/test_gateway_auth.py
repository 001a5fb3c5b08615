"""Credentials, API keys, idempotent submission, rate limits, request ids and
CORS, through the gateway over real HTTP (GW-1, GW-2, GW-3)."""
import hashlib
import json
import time

import eventlet
import eventlet.wsgi
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa

from kernel.db import normalise_url
from tests.conftest import ENTERPRISE_A, ENTERPRISE_B
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    SECRET, api, appeal_body, assert_problem, bearer, log_tap, make_key, stack, token, who)

pytestmark = pytest.mark.integration


def test_bad_tokens_are_401(api, who):
    # rule: GW-2
    unsigned = jwt.encode({"sub": "x", "role": "admin", "exp": int(time.time()) + 600}, key=None,
                          algorithm="none")
    good = token("enterprise", ENTERPRISE_A)
    head, payload, signature = good.split(".")
    tampered_payload = jwt.utils.base64url_encode(json.dumps({
        "sub": "x", "role": "admin", "org": "", "exp": int(time.time()) + 600}).encode()).decode()
    cases = {
        "expired": {"Authorization": "Bearer " + token("enterprise", ENTERPRISE_A, ttl=-120)},
        "forged": {"Authorization": "Bearer " + token("admin", secret="not-the-gateway-secret-0123456789")},
        "alg none": {"Authorization": "Bearer " + unsigned},
        "tampered": {"Authorization": f"Bearer {head}.{tampered_payload}.{signature}"},
        "garbage": {"Authorization": "Bearer not.a.token"},
        "empty bearer": {"Authorization": "Bearer "},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
        "role system": bearer("system"),
        "role channel": bearer("channel", "hotline_12345"),
        "no role": {"Authorization": "Bearer " + jwt.encode(
            {"sub": "x", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")},
        "no exp": {"Authorization": "Bearer " + jwt.encode(
            {"sub": "x", "role": "admin"}, SECRET, algorithm="HS256")},
        "no sub": {"Authorization": "Bearer " + jwt.encode(
            {"role": "admin", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")},
        "long sub": bearer("admin", sub="x" * 65),
        "bad credit code": bearer("enterprise", "91433126MA4L00010X"),
        "unknown department": bearer("department", "nowhere"),
        "rs256 without jwks": {"Authorization": "Bearer " + jwt.encode(
            {"sub": "x", "role": "admin", "exp": int(time.time()) + 600},
            rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")},
        "two credentials": {**who["ent_a"], **who["channel_key"]},
        "unknown key": {"X-API-Key": "qq_0123456789ab_" + "A" * 43},
        "malformed key": {"X-API-Key": "let-me-in"},
    }
    for name, headers in cases.items():
        for method, path in (("GET", "/api/v1/appeals"), ("POST", "/api/v1/appeals")):
            r = api(method, path, headers=headers, json=appeal_body())
            body = assert_problem(r, 401)
            assert "WWW-Authenticate" in r.headers, name
            secrets = [v.split(" ", 1)[-1] for v in headers.values()]
            assert not any(len(x) > 8 and x in json.dumps(body) for x in secrets), name
    assert api.get("/api/v1/appeals", who=who["taskforce"]).json()["items"] == []
    assert api.get("/api/v1/appeals", who=who["ent_a"]).status_code == 200  # the good one works


def test_rs256_tokens_with_keys_from_the_jwks_url(stack):
    # rule: GW-2
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwks = json.dumps({"keys": [{**jwk, "kid": "idp-2026", "use": "sig", "alg": "RS256"}]}).encode()

    def identity_provider(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [jwks]

    sock = eventlet.listen(("127.0.0.1", 0))
    server = eventlet.spawn(eventlet.wsgi.server, sock, identity_provider, log_output=False)
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/.well-known/jwks.json"
        api = stack.gateway(GATEWAY_JWT_SECRET="", GATEWAY_JWKS_URL=url,
                            GATEWAY_JWT_AUDIENCE="qinqing", GATEWAY_JWT_ISSUER="https://idp.example")
        claims = {"sub": "u-1", "role": "enterprise", "org": ENTERPRISE_A, "aud": "qinqing",
                  "iss": "https://idp.example", "exp": int(time.time()) + 600}

        def rs(key=private, kid="idp-2026", **changes):
            return {"Authorization": "Bearer " + jwt.encode({**claims, **changes}, key,
                                                            algorithm="RS256", headers={"kid": kid})}

        ok = api.post("/api/v1/appeals", who=rs(), json=appeal_body(enterprise_code=None))
        assert ok.status_code == 201 and ok.json()["enterprise_code"] == ENTERPRISE_A
        for headers in (rs(key=stranger), rs(kid="unknown"), rs(aud="someone-else"),
                        rs(iss="https://evil.example"), rs(exp=int(time.time()) - 120),
                        bearer("admin")):  # HS256 is off: no secret configured
            assert_problem(api.get("/api/v1/appeals", who=headers), 401)
        assert [a["id"] for a in api.get("/api/v1/appeals", who=rs()).json()["items"]] == [ok.json()["id"]]
    finally:
        server.kill()
        sock.close()


def test_api_keys_are_shown_once_stored_as_hashes_and_revocable(api, who):
    # rule: GW-3
    admin = who["admin"]
    made = make_key(api, "channel", "media", "媒体问政平台")
    assert made["key"].startswith("qq_") and made["kind"] == "channel" and made["code"] == "media"
    listed = api.get("/api/v1/api-keys", who=admin).json()["items"]
    assert made["id"] in {k["id"] for k in listed}
    assert all(set(k) == {"id", "kind", "code", "label", "created_by", "created_at", "revoked_at"}
               for k in listed)  # never the key, never the hash
    engine = sa.create_engine(normalise_url(api.container.config["DB_URL"]))
    with engine.connect() as c:
        row = c.execute(sa.text("SELECT * FROM api_keys WHERE id = :id"), {"id": made["id"]}).mappings().one()
    engine.dispose()
    assert row["key_hash"] == hashlib.sha256(made["key"].encode()).hexdigest()
    assert made["key"] not in json.dumps({k: str(v) for k, v in row.items()})

    key = {"X-API-Key": made["key"]}
    filed = api.post("/api/v1/appeals", who=key, json=appeal_body(channel=None))
    assert filed.status_code == 201 and filed.json()["channel"] == "media"
    assert [a["id"] for a in api.get("/api/v1/appeals", who=key).json()["items"]] == [filed.json()["id"]]
    wrong_secret = made["key"][:-4] + ("AAAA" if not made["key"].endswith("AAAA") else "BBBB")
    assert_problem(api.get("/api/v1/appeals", who={"X-API-Key": wrong_secret}), 401)

    dept = {"X-API-Key": make_key(api, "department", "approval")["key"]}
    assert api.post(f"/api/v1/appeals/{filed.json()['id']}/accept", who=dept, json={}).json()["status"] == "accepted"

    assert api.delete(f"/api/v1/api-keys/{made['id']}", who=admin).status_code == 204
    assert_problem(api.get("/api/v1/appeals", who=key), 401)
    assert_problem(api.post("/api/v1/appeals", who=key, json=appeal_body(channel=None)), 401)
    assert api.delete(f"/api/v1/api-keys/{made['id']}", who=admin).status_code == 204  # idempotent
    revoked = {k["id"]: k for k in api.get("/api/v1/api-keys", who=admin).json()["items"]}[made["id"]]
    assert revoked["revoked_at"] is not None
    assert_problem(api.delete("/api/v1/api-keys/0123456789ab", who=admin), 404)
    assert_problem(api.delete("/api/v1/api-keys/" + "z" * 40, who=admin), 404)

    for body, field in (({"kind": "robot", "code": "media", "label": "x"}, "kind"),
                        ({"kind": "channel", "code": "nowhere", "label": "x"}, "code"),
                        ({"kind": "department", "code": "hotline_12345", "label": "x"}, "code"),
                        ({"kind": "channel", "code": "media"}, "label"),
                        ({"kind": "channel", "code": "media", "label": "  "}, "label")):
        assert_problem(api.post("/api/v1/api-keys", who=admin, json=body), 422, field)
    assert len(api.get("/api/v1/api-keys", who=admin).json()["items"]) == len(listed) + 1


def test_idempotency_key_gives_one_appeal(api, who):
    # rule: GW-3
    body = appeal_body()
    body.pop("enterprise_code")
    once = {"Idempotency-Key": "order-7f3a-0001"}
    first = api.post("/api/v1/appeals", who=who["ent_a"], headers=once, json=body)
    again = api.post("/api/v1/appeals", who=who["ent_a"], headers=once, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other_caller = api.post("/api/v1/appeals", who=who["ent_b"], headers=once, json=body)
    other_key = api.post("/api/v1/appeals", who=who["ent_a"],
                         headers={"Idempotency-Key": "order-7f3a-0002"}, json=body)
    assert len({first.json()["id"], other_caller.json()["id"], other_key.json()["id"]}) == 3

    racing = {"Idempotency-Key": "order-7f3a-race"}
    pool = eventlet.GreenPool()
    answers = list(pool.imap(lambda _: api.post("/api/v1/appeals", who=who["lead"], headers=racing,
                                                json=appeal_body(channel="symposium")), range(6)))
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["id"] for r in answers}) == 1
    for bad in ("has space", "x" * 101, "naïve"):
        r = api.post("/api/v1/appeals", who=who["ent_a"], headers={"Idempotency-Key": bad}, json=body)
        assert_problem(r, 422, "Idempotency-Key")
    assert len(api.get("/api/v1/appeals", who=who["taskforce"]).json()["items"]) == 4


def test_rate_limit_per_credential_with_retry_after(stack):
    # rule: GW-1
    api = stack.gateway(GATEWAY_RATE_BURST=3, GATEWAY_RATE_PER_SECOND=0.001,
                        GATEWAY_RATE_LIMITS={"admin": {"burst": 5}})
    ent_a, ent_b, admin = (bearer("enterprise", ENTERPRISE_A), bearer("enterprise", ENTERPRISE_B),
                           bearer("admin"))
    assert [api.get("/api/v1/reference", who=ent_a).status_code for _ in range(3)] == [200] * 3
    refused = api.get("/api/v1/reference", who=ent_a)
    body = assert_problem(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 900  # one token per 1000 s
    assert body["type"] == "/docs#problem-too-many-requests"
    assert api.get("/api/v1/reference", who=ent_b).status_code == 200  # per credential
    assert [api.get("/api/v1/reference", who=admin).status_code for _ in range(6)] == [200] * 5 + [429]
    anonymous = [api.get("/open311/v2/services.json").status_code for _ in range(4)]
    assert anonymous == [200, 200, 200, 429]
    assert_problem(api.get("/api/v1/appeals", headers={"Authorization": "Bearer forged"}), 429)
    assert {api.get("/healthz").status_code for _ in range(10)} == {200}  # probes are not limited


def test_request_id_is_echoed_and_reaches_the_services(api, who, log_tap):
    # rule: GW-1
    r = api.get("/api/v1/reference", who=who["ent_a"], headers={"X-Request-ID": "trace-2026-abc"})
    assert r.headers["X-Request-ID"] == "trace-2026-abc"
    generated = {api.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(generated) == 3 and all(len(g) == 32 for g in generated)
    for unusable in ("has space", "x" * 200):
        assert api.get("/healthz", headers={"X-Request-ID": unusable}).headers["X-Request-ID"] != unusable
    missing = api.get("/api/v1/appeals/424242", who=who["ent_a"], headers={"X-Request-ID": "trace-404"})
    assert missing.headers["X-Request-ID"] == "trace-404"
    assert assert_problem(missing, 404)["instance"] == "urn:request:trace-404"
    # refused by the appeals service itself: its log line carries our id
    refused = api.post("/api/v1/appeals", who=who["ent_a"], headers={"X-Request-ID": "trace-svc-1"},
                       json=appeal_body(enterprise_code=None, category="unknown_category"))
    assert_problem(refused, 422, "category")
    in_appeals = [rec for rec in log_tap.records if getattr(rec, "service", None) == "appeals"
                  and getattr(rec, "request_id", None) == "trace-svc-1"]
    assert in_appeals, "the appeals service logged nothing with the request id"
    in_gateway = [rec for rec in log_tap.records if rec.name == "gateway.access"
                  and getattr(rec, "request_id", None) == "trace-svc-1"]
    assert in_gateway and "422" in in_gateway[0].getMessage()
    assert not any(who["ent_a"]["Authorization"][7:] in rec.getMessage() for rec in log_tap.records)


def test_cors_for_the_task_force_pages(api, who):
    # rule: GW-1
    from tests.integration.test_gateway_kit import TASKFORCE_ORIGIN
    ask = {"Origin": TASKFORCE_ORIGIN, "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"}
    pre = api("OPTIONS", "/api/v1/appeals", headers=ask)
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == TASKFORCE_ORIGIN
    allowed = pre.headers["Access-Control-Allow-Headers"].lower()
    assert all(h in allowed for h in ("authorization", "content-type", "idempotency-key", "x-api-key"))
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    stranger = api("OPTIONS", "/api/v1/appeals", headers={**ask, "Origin": "https://evil.example"})
    assert_problem(stranger, 403)
    assert "Access-Control-Allow-Origin" not in stranger.headers
    real = api.get("/api/v1/appeals", who=who["taskforce"], headers={"Origin": TASKFORCE_ORIGIN})
    assert real.headers["Access-Control-Allow-Origin"] == TASKFORCE_ORIGIN
    assert "X-Request-ID" in real.headers["Access-Control-Expose-Headers"]
    assert "Origin" in real.headers["Vary"]
    other = api.get("/api/v1/appeals", who=who["taskforce"], headers={"Origin": "https://evil.example"})
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers
