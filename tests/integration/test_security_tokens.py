"""Tokens and development fallbacks (issue 13): production requires aud and iss;
a key taken out of the JWKS stops being trusted within the cache's life; the
published development secret is never accepted beside a JWKS; development
fallbacks refuse to start in production; ``make run`` listens on loopback.
Real gateway over HTTP, a real JWKS server on loopback, the real broker."""
import json
import os
import subprocess
import sys
import time

import eventlet
import eventlet.wsgi
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.credentials import DEV_JWT_SECRET
from kernel.config import ROOT, InsecureSetting
from services.inspections.service import InspectionsService
from tests.conftest import ENTERPRISE_A
from tests.integration.test_gateway_kit import (  # noqa: F401  (fixtures)
    appeal_body, assert_problem, bearer, stack, token)

pytestmark = [pytest.mark.integration, pytest.mark.db_independent]

AUD, ISS = "qinqing", "https://idp.example"
# The tests' CALLER_SIGNING_KEY (base_config) is not the development default,
# so production accepts it, and the appeals service of the stack shares it.
PRODUCTION = {"QQ_ENV": "production", "GATEWAY_JWT_SECRET": ""}


class IdentityProvider:
    """A JWKS endpoint on loopback whose published keys a test can change."""

    def __init__(self):
        self.keys = {}
        self.sock = eventlet.listen(("127.0.0.1", 0))
        self.server = eventlet.spawn(eventlet.wsgi.server, self.sock, self._app, log_output=False)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/.well-known/jwks.json"

    def publish(self, kid):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys[kid] = private
        return private

    def _app(self, environ, start_response):
        body = {"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())),
                          "kid": kid, "use": "sig", "alg": "RS256"} for kid, k in self.keys.items()]}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    def token(self, kid, key=None, **claims):
        body = {"sub": "u-1", "role": "enterprise", "org": ENTERPRISE_A, "aud": AUD, "iss": ISS,
                "exp": int(time.time()) + 600, **claims}
        body = {k: v for k, v in body.items() if v is not None}  # None: leave the claim out
        return {"Authorization": "Bearer " + jwt.encode(body, key or self.keys[kid], algorithm="RS256",
                                                        headers={"kid": kid})}

    def close(self):
        self.server.kill()
        self.sock.close()


@pytest.fixture
def idp():
    provider = IdentityProvider()
    yield provider
    provider.close()


def test_a_key_removed_from_the_jwks_stops_being_trusted_within_the_cache_life(stack, idp):
    # rule: GW-2
    old = idp.publish("idp-2025")
    api = stack.gateway(GATEWAY_JWT_SECRET="", GATEWAY_JWKS_URL=idp.url, GATEWAY_JWT_AUDIENCE=AUD,
                        GATEWAY_JWT_ISSUER=ISS, GATEWAY_JWKS_CACHE_SECONDS=1)
    assert api.get("/api/v1/appeals", who=idp.token("idp-2025")).status_code == 200
    del idp.keys["idp-2025"]  # the identity provider rotates: the old key is withdrawn
    idp.publish("idp-2026")
    time.sleep(1.5)
    assert_problem(api.get("/api/v1/appeals", who=idp.token("idp-2025", key=old)), 401)
    assert api.get("/api/v1/appeals", who=idp.token("idp-2026")).status_code == 200


def test_the_development_secret_is_never_accepted_beside_a_jwks(stack, idp):
    # rule: GW-2
    idp.publish("idp-2026")
    api = stack.gateway(GATEWAY_JWT_SECRET=DEV_JWT_SECRET, GATEWAY_JWKS_URL=idp.url,
                        GATEWAY_JWT_AUDIENCE=AUD, GATEWAY_JWT_ISSUER=ISS)
    dev = {"Authorization": "Bearer " + token("taskforce", "taskforce", secret=DEV_JWT_SECRET,
                                             aud=AUD, iss=ISS)}
    assert_problem(api.get("/api/v1/appeals", who=dev), 401)
    assert api.get("/api/v1/appeals", who=idp.token("idp-2026")).status_code == 200


def test_development_mode_and_fallbacks_refuse_to_start_in_production(stack, idp):
    # rule: GW-2
    idp.publish("idp-2026")
    refused = {
        "production without aud": dict(PRODUCTION, GATEWAY_JWKS_URL=idp.url, GATEWAY_JWT_ISSUER=ISS),
        "production without iss": dict(PRODUCTION, GATEWAY_JWKS_URL=idp.url, GATEWAY_JWT_AUDIENCE=AUD),
        "dev mode in production": dict(PRODUCTION, GATEWAY_DEV="1", GATEWAY_JWKS_URL=idp.url,
                                       GATEWAY_JWT_AUDIENCE=AUD, GATEWAY_JWT_ISSUER=ISS),
        "dev mode beside a JWKS": dict(GATEWAY_DEV="1", GATEWAY_JWT_SECRET="", GATEWAY_JWKS_URL=idp.url),
        "the published secret in production": dict(PRODUCTION, GATEWAY_JWT_SECRET=DEV_JWT_SECRET,
                                                   GATEWAY_JWT_AUDIENCE=AUD, GATEWAY_JWT_ISSUER=ISS),
        "no caller key in production": dict(PRODUCTION, CALLER_SIGNING_KEY=None, GATEWAY_JWKS_URL=idp.url,
                                            GATEWAY_JWT_AUDIENCE=AUD, GATEWAY_JWT_ISSUER=ISS),
    }
    for name, config in refused.items():
        with pytest.raises(InsecureSetting):
            stack.gateway(**config)
            pytest.fail(f"started: {name}")
    # production done right starts, and then requires aud and iss in every token
    api = stack.gateway(**PRODUCTION, GATEWAY_JWKS_URL=idp.url, GATEWAY_JWT_AUDIENCE=AUD,
                        GATEWAY_JWT_ISSUER=ISS)
    assert api.get("/api/v1/appeals", who=idp.token("idp-2026")).status_code == 200
    for claim in ("aud", "iss"):
        assert_problem(api.get("/api/v1/appeals", who=idp.token("idp-2026", **{claim: None})), 401)


def test_inspections_fallbacks_refuse_to_start_in_production(start_service, db_factory):
    # rule: INS-4
    production = {"QQ_ENV": "production"}
    for config in ({"INS_CODE_KEY": None, "INS_TASKFORCE_HEADS": []},  # the entry-code dev key
                   {"INS_CODE_KEY": "a-real-entry-code-key-0123456789", "INS_TASKFORCE_HEADS": ["tf-head"]}):
        with pytest.raises(InsecureSetting):
            start_service(InspectionsService, DB_URL=db_factory("inspections"), **production, **config)
    start_service(InspectionsService, DB_URL=db_factory("inspections"), **production,
                  INS_CODE_KEY="a-real-entry-code-key-0123456789", INS_TASKFORCE_HEADS=["head-wang"])


def test_the_gateway_listens_on_loopback_unless_told_otherwise():
    # rule: GW-1
    code = ("import sys, yaml; from nameko.cli.main import setup_yaml_parser; setup_yaml_parser();"
            "print(yaml.safe_load(open(sys.argv[1]))['WEB_SERVER_ADDRESS'])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    run = lambda **extra: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code, str(ROOT / "config" / "gateway.yaml")], env={**env, **extra},
        capture_output=True, text=True, check=True).stdout.strip()
    assert run() == "127.0.0.1:8000"
    assert run(GATEWAY_HOST="0.0.0.0", GATEWAY_PORT="9000") == "0.0.0.0:9000"
