"""API keys for department systems and channel integrators (GW-3).

A key reads ``qq_<id>_<secret>``: the id finds the row, the SHA-256 of the
whole key is compared in constant time. The secret is 256 random bits, so a
fast hash is enough (nothing to brute-force, unlike a password); the key is
shown once when made and never stored. A revoked key stops working on the
next request — there is no cache — on every gateway instance sharing the
database.
"""
import hashlib
import hmac
import re
import secrets

from sqlalchemy import select

from kernel.calendar import utcnow
from kernel.errors import NotFound

from .models import ApiKey

PREFIX = "qq"
KINDS = ("department", "channel")
_SHAPE = re.compile(r"^qq_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def new_key():
    """A fresh ``(key_id, key)``."""
    key_id = secrets.token_hex(6)
    return key_id, f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id_of(key: str):
    """The id inside a well-formed key, else None."""
    match = _SHAPE.match(key or "")
    return match.group(1) if match else None


def create(store, kind, code, label, created_by):
    key_id, key = new_key()
    now = utcnow()
    with store.transaction() as s:
        row = ApiKey(id=key_id, key_hash=digest(key), kind=kind, code=code, label=label,
                     created_by=created_by, created_at=now)
        s.add(row)
    return row, key


def find_active(store, key):
    """``(id, kind, code)`` of the unrevoked key, or None."""
    key_id = key_id_of(key)
    if key_id is None:
        return None
    with store.reading() as s:
        row = s.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.key_hash, digest(key)):
            return None
        return row.id, row.kind, row.code


def revoke(store, key_id, revoked_by):
    """Revoke once; revoking a revoked key changes nothing (idempotent)."""
    with store.transaction() as s:
        row = s.get(ApiKey, key_id) if isinstance(key_id, str) and len(key_id) <= 32 else None
        if row is None:
            raise NotFound("no such API key")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            row.revoked_by = revoked_by
    return row


def listing(store, out):
    """Every key made, newest first, each as ``out(row)`` (read inside the session)."""
    with store.reading() as s:
        rows = s.execute(select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id)).scalars()
        return [out(row) for row in rows]
