"""Rate limits per credential: a token bucket for each caller, per gateway instance.

Each credential (a token's subject, an API key, or the client address when
anonymous) has a bucket of ``burst`` tokens refilled at ``per_second``; a
request takes one or is refused with the seconds until one is back
(``Retry-After``). Buckets live in this process: with N gateway instances
behind a load balancer a caller gets up to N times the limit. That is the
documented trade for needing no shared store on every request.
"""
import time
from collections import OrderedDict
from dataclasses import dataclass

from nameko.extensions import Extension

from kernel.config import setting, setting_json

from .problems import TooManyRequests


@dataclass(frozen=True)
class Limit:
    burst: float
    per_second: float


class TokenBuckets:
    """Buckets keyed by credential; the least recently used are forgotten first
    (a forgotten bucket comes back full, which only ever errs towards allowing)."""

    def __init__(self, default: Limit, per_role=None, max_buckets=100_000, clock=time.monotonic):
        self.default = default
        self.per_role = dict(per_role or {})
        self.max_buckets = max_buckets
        self.clock = clock
        self._buckets = OrderedDict()  # key → (tokens, last refill)

    def limit_for(self, role):
        return self.per_role.get(role, self.default)

    def take(self, key, role=None):
        """Take one token for ``key``. Returns 0 when allowed, else the seconds
        to wait. No I/O here, so green threads cannot interleave inside."""
        limit = self.limit_for(role)
        now = self.clock()
        tokens, last = self._buckets.pop(key, (limit.burst, now))
        tokens = min(limit.burst, tokens + (now - last) * limit.per_second)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / limit.per_second if limit.per_second > 0 else 3600.0
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
        return wait


def _limit(value, fallback):
    return Limit(float(value.get("burst", fallback.burst)),
                 float(value.get("per_second", fallback.per_second)))


class RateLimiter(Extension):
    """The container's buckets (an extension of the Gate).

    ``GATEWAY_RATE_BURST`` and ``GATEWAY_RATE_PER_SECOND`` for every caller;
    ``GATEWAY_RATE_LIMITS`` ({"channel": {"burst": 600, "per_second": 50}, …})
    per role. ``charge(key, role)`` raises TooManyRequests."""

    def setup(self):
        config = self.container.config
        default = Limit(float(setting(config, "GATEWAY_RATE_BURST", 120)),
                        float(setting(config, "GATEWAY_RATE_PER_SECOND", 20)))
        per_role = {role: _limit(v, default)
                    for role, v in setting_json(config, "GATEWAY_RATE_LIMITS", {}).items()}
        self.buckets = TokenBuckets(default, per_role)

    def charge(self, key, role=None):
        wait = self.buckets.take(key, role)
        if wait > 0:
            raise TooManyRequests(wait)
