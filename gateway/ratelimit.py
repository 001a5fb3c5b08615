"""Rate limits per credential, shared by every gateway replica.

Each credential (a token's subject, an API key, or the client address when
anonymous) may make ``burst`` requests; they come back at ``per_second``. A
refused request gets the seconds until one is back (``Retry-After``).

With ``GATEWAY_REDIS_URL`` the counts live in Redis (the ``limits`` library's
moving window: at most ``burst`` requests in any ``burst / per_second``
seconds), so N replicas behind a load balancer give one limit, not N. Without
Redis, or while it does not answer, each instance counts in memory (a token
bucket): the limit then holds per instance, which errs towards allowing.
"""
import ipaddress
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from nameko.extensions import Extension

from kernel.config import setting, setting_json

from .problems import TooManyRequests

_log = logging.getLogger(__name__)


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


class SharedWindows:
    """The limits in Redis: one moving window per credential for all replicas."""

    def __init__(self, url, namespace, default: Limit, per_role=None):
        self.storage = RedisStorage(url, key_prefix=namespace, wrap_exceptions=True,
                                    socket_timeout=0.5, socket_connect_timeout=0.5)
        self.windows = MovingWindowRateLimiter(self.storage)
        self.items = {role: _window(limit) for role, limit in (per_role or {}).items()}
        self.default = _window(default)

    def take(self, key, role=None):
        item = self.items.get(role, self.default)
        if self.windows.hit(item, key):
            return 0.0
        return max(1.0, self.windows.get_window_stats(item, key).reset_time - time.time())


def _window(limit: Limit):
    """``burst`` requests per ``burst / per_second`` seconds: the same average
    rate and the same burst as the bucket."""
    seconds = math.ceil(limit.burst / limit.per_second) if limit.per_second > 0 else 86_400
    return RateLimitItemPerSecond(max(1, int(limit.burst)), max(1, seconds))


class RateLimiter(Extension):
    """The gateway's limits (an extension of the Gate).

    ``GATEWAY_RATE_BURST`` and ``GATEWAY_RATE_PER_SECOND`` for every caller;
    ``GATEWAY_RATE_LIMITS`` ({"channel": {"burst": 600, "per_second": 50}, …})
    per role; ``GATEWAY_REDIS_URL`` (and ``GATEWAY_RATE_NAMESPACE``, the key
    prefix) to share them. ``charge(key, role)`` raises TooManyRequests."""

    def setup(self):
        config = self.container.config
        default = Limit(float(setting(config, "GATEWAY_RATE_BURST", 120)),
                        float(setting(config, "GATEWAY_RATE_PER_SECOND", 20)))
        per_role = {role: _limit(v, default)
                    for role, v in setting_json(config, "GATEWAY_RATE_LIMITS", {}).items()}
        self.buckets = TokenBuckets(default, per_role)
        self.shared = None
        url = setting(config, "GATEWAY_REDIS_URL")
        if url:
            self.shared = SharedWindows(url, setting(config, "GATEWAY_RATE_NAMESPACE", "qinqing-rate"),
                                        default, per_role)
            if not self.shared.storage.check():
                _log.warning("Redis for rate limits does not answer: counting in memory until it does")
        self._shared_down = False

    def charge(self, key, role=None):
        wait = self._take(key, role)
        if wait > 0:
            raise TooManyRequests(wait)

    def _take(self, key, role):
        if self.shared is not None:
            try:
                wait = self.shared.take(key, role)
                if self._shared_down:
                    _log.info("Redis for rate limits answers again: limits are shared")
                    self._shared_down = False
                return wait
            except Exception:  # limits wraps Redis's errors: fall back, say so once
                if not self._shared_down:
                    _log.warning("Redis for rate limits is unreachable: counting in memory")
                    self._shared_down = True
        return self.buckets.take(key, role)


class TrustedProxies:
    """Whose ``X-Forwarded-For`` counts (``TRUSTED_PROXIES``: addresses or
    networks, comma-separated). Through a trusted proxy the client is the
    right-most address that is not itself a trusted proxy; entries left of it
    are the client's own words and never count."""

    def __init__(self, spec):
        self.networks = [ipaddress.ip_network(p.strip(), strict=False)
                         for p in (spec or "").split(",") if p.strip()]

    def trusts(self, address):
        try:
            ip = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client_address(self, remote_addr, forwarded_for):
        if not forwarded_for or not self.trusts(remote_addr):
            return remote_addr or "unknown"
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    break  # garbage from the client's side of the chain
        return remote_addr or "unknown"
