"""Which HS256 secret the gateway and the development token helper use.

Kept apart from ``auth.py`` so ``python -m gateway.token`` stays a plain
command that loads no nameko or eventlet.
"""
from kernel.config import setting

# Documented in docs/api.md; used only when GATEWAY_DEV is set and no secret is.
DEV_JWT_SECRET = "qinqing-development-secret-never-use-in-production"
MAX_SUB = 64  # a token's subject; it ends up in idempotency keys and actor names


def is_dev(config) -> bool:
    return str(setting(config, "GATEWAY_DEV", "") or "").lower() in ("1", "true", "yes", "on")


def jwt_secret(config):
    """The HS256 secret, or None: the development default only in dev mode."""
    secret = setting(config, "GATEWAY_JWT_SECRET")
    if secret:
        return secret
    return DEV_JWT_SECRET if is_dev(config) else None
