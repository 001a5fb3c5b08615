"""Credentials: who is calling (GW-2, GW-3).

- ``Authorization: Bearer <JWT>`` with claims ``sub``, ``role`` (enterprise,
  department, taskforce, admin), ``org`` (credit code for an enterprise,
  department code for a department) and ``exp``. HS256 with
  ``GATEWAY_JWT_SECRET`` (development), RS256 with the keys published at
  ``GATEWAY_JWKS_URL`` (production). Optional ``GATEWAY_JWT_AUDIENCE`` and
  ``GATEWAY_JWT_ISSUER`` are then required in every token.
- ``X-API-Key: qq_…`` (or Open311's ``api_key``): a key an admin made for a
  department system or a channel integrator.

A development secret exists only when ``GATEWAY_DEV`` is set: a gateway in
production mode never falls back to a secret anyone can read in the source.
"""
import logging

import jwt
from marshmallow import ValidationError
from nameko.extensions import DependencyProvider

from kernel.config import CountyProfile, InsecureSetting, is_production, setting
from kernel.db import Database
from kernel.errors import Unauthorized
from kernel.rpc import Caller, CallerIdentity, caller_signing_key, identity_ttl
from kernel.validators import normalise_credit_code

from . import keys
from .access import DEPARTMENT, ENTERPRISE, TOKEN_ROLES, check_role, scopes_from_claims
from .credentials import DEV_JWT_SECRET, MAX_SUB, is_dev, jwt_secret
from .problems import ServiceUnavailable
from .ratelimit import RateLimiter, TrustedProxies

_log = logging.getLogger(__name__)

class TokenVerifier:
    """Turns a bearer token into a Caller, or refuses it (401)."""

    def __init__(self, profile, secret=None, jwks_url=None, audience=None, issuer=None,
                 leeway=30, jwks_cache_seconds=300):
        self.profile = profile
        self.secret = secret
        # The key set is cached for ``jwks_cache_seconds`` and nothing longer:
        # a key the identity provider withdraws stops being trusted within that
        # time (PyJWKClient's per-key cache would keep trusting it forever).
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=False, cache_jwk_set=True,
                                    lifespan=jwks_cache_seconds, timeout=5) if jwks_url else None
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway

    def verify(self, token) -> Caller:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise Unauthorized("malformed token")
        if alg == "HS256" and self.secret:
            key = self.secret
        elif alg == "RS256" and self.jwks is not None:
            key = self._published_key(token)
        else:
            raise Unauthorized("token signed with an algorithm or key this gateway does not accept")
        require = ["exp", "sub"] + (["aud"] if self.audience else []) + (["iss"] if self.issuer else [])
        try:
            claims = jwt.decode(token, key, algorithms=[alg], audience=self.audience,
                                issuer=self.issuer, leeway=self.leeway,
                                options={"require": require, "verify_aud": bool(self.audience)})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired")
        except jwt.PyJWTError:
            raise Unauthorized("invalid token")
        return self.caller_from(claims)

    def _published_key(self, token):
        try:
            return self.jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            _log.error("cannot fetch the signing keys from the JWKS URL")
            raise ServiceUnavailable("cannot check tokens right now; try again later")
        except jwt.PyJWTError:
            raise Unauthorized("token signed with an unknown key")

    def caller_from(self, claims) -> Caller:
        role, sub, org = claims.get("role"), claims.get("sub"), claims.get("org")
        if role not in TOKEN_ROLES:
            raise Unauthorized(f"token role must be one of {', '.join(TOKEN_ROLES)}")
        if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUB or "\x00" in sub:
            raise Unauthorized(f"token subject must be 1 to {MAX_SUB} characters")
        if org is not None and (not isinstance(org, str) or len(org) > 32 or "\x00" in org):
            raise Unauthorized("token org is not a code")
        if role == ENTERPRISE:
            try:
                org = normalise_credit_code(org or "")
            except ValidationError:
                raise Unauthorized("token org is not a valid unified social credit code")
        elif role == DEPARTMENT and org not in self.profile.departments:
            raise Unauthorized("token org is not a department of this county")
        return Caller(role=role, sub=sub, org=org or "", scopes=scopes_from_claims(role, claims))


def refuse_development_in_production(config):
    """Development mode only where nothing says production; production only
    with its own secret, audience and issuer (raises InsecureSetting at start)."""
    production = is_production(config)
    if is_dev(config) and (production or setting(config, "GATEWAY_JWKS_URL")):
        raise InsecureSetting("GATEWAY_DEV is set where production settings are "
                              "(QQ_ENV=production or GATEWAY_JWKS_URL): refusing to start")
    if not production:
        return
    if setting(config, "GATEWAY_JWT_SECRET") == DEV_JWT_SECRET:
        raise InsecureSetting("GATEWAY_JWT_SECRET is the published development secret")
    missing = [k for k in ("GATEWAY_JWT_AUDIENCE", "GATEWAY_JWT_ISSUER") if not setting(config, k)]
    if missing:
        raise InsecureSetting(f"production requires {' and '.join(missing)}: every token must "
                              "name this platform as audience and the identity provider as issuer")


class Gate(DependencyProvider):
    """What every route does first: ``caller = self.gate.enter(request)``.

    Authenticates, charges the caller's rate limit, refuses roles the route
    does not allow (the route's ``roles``), and puts the caller and the
    request id into the call context so every RPC carries them.
    """
    limiter = RateLimiter()

    def bind(self, container, attr_name):
        # Refuse when the container is made, before any extension starts.
        caller_signing_key(container.config)
        refuse_development_in_production(container.config)
        return super().bind(container, attr_name)

    def setup(self):
        config = self.container.config
        self.caller_key = caller_signing_key(config)  # signs the identity every RPC carries
        self.identity_ttl = identity_ttl(config)
        refuse_development_in_production(config)
        secret = jwt_secret(config)
        jwks_url = setting(config, "GATEWAY_JWKS_URL")
        if jwks_url and secret == DEV_JWT_SECRET:
            secret = None  # beside real keys the published secret is never accepted
        if secret == DEV_JWT_SECRET:
            _log.warning("GATEWAY_DEV: accepting tokens signed with the development secret")
        if not secret and not jwks_url:
            _log.warning("neither GATEWAY_JWT_SECRET nor GATEWAY_JWKS_URL is set: "
                         "bearer tokens are refused, API keys still work")
        self.tokens = TokenVerifier(
            CountyProfile.from_config(config), secret=secret, jwks_url=jwks_url,
            audience=setting(config, "GATEWAY_JWT_AUDIENCE"),
            issuer=setting(config, "GATEWAY_JWT_ISSUER"),
            leeway=float(setting(config, "GATEWAY_JWT_LEEWAY_SECONDS", 30)),
            jwks_cache_seconds=int(setting(config, "GATEWAY_JWKS_CACHE_SECONDS", 300)))
        self.proxies = TrustedProxies(setting(config, "TRUSTED_PROXIES", ""))

    def start(self):
        self.store = next(d for d in self.container.dependencies if isinstance(d, Database)).store

    def get_dependency(self, worker_ctx):
        return GateHandle(self, worker_ctx)

    # -- credentials --------------------------------------------------------------
    def authenticate(self, request, api_key=None):
        """The caller the request's one credential names; None without any."""
        bearer = request.headers.get("Authorization")
        given = {c for c in (request.headers.get("X-API-Key"), api_key) if c}
        if bearer and given or len(given) > 1:
            raise Unauthorized("send one credential, not several")
        if bearer:
            scheme, _, token = bearer.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("expected 'Authorization: Bearer <token>'")
            return self.tokens.verify(token.strip())
        if given:
            found = keys.find_active(self.store, given.pop())
            if found is None:
                raise Unauthorized("unknown or revoked API key")
            key_id, kind, code = found
            return Caller(role=kind, sub=key_id, org=code)
        return None

    def client_address(self, request):
        """The caller's address; through a trusted proxy (TRUSTED_PROXIES), the
        client's address as the proxies recorded it in X-Forwarded-For."""
        return self.proxies.client_address(request.remote_addr,
                                           request.headers.get("X-Forwarded-For"))


class GateHandle:
    def __init__(self, gate, worker_ctx):
        self._gate = gate
        self._ctx = worker_ctx

    @property
    def config(self):
        return self._gate.container.config

    def enter(self, request, api_key=None):
        """The caller, authenticated and allowed on this route; None on a public route."""
        gate, roles = self._gate, self._ctx.entrypoint.roles
        anonymous = f"ip:{gate.client_address(request)}"
        if roles is None:  # a public route: only the client address is limited
            gate.limiter.charge(anonymous)
            return None
        try:
            caller = gate.authenticate(request, api_key)
        except Unauthorized:
            gate.limiter.charge(anonymous)  # guessing costs like any other request
            raise
        if caller is None:
            gate.limiter.charge(anonymous)
            raise Unauthorized("credentials required: 'Authorization: Bearer <token>' or 'X-API-Key'")
        gate.limiter.charge(f"{caller.role}:{caller.org}:{caller.sub}", caller.role)
        check_role(caller, roles)
        identity = CallerIdentity.Handle(self._ctx, gate.caller_key, gate.identity_ttl)
        identity.set(caller)  # every RPC from this worker carries it (GW-2)
        identity.set_request_id(self._ctx.data.get("request_id"))
        return caller
