"""RPC with a timeout on every call, and the caller's identity passed along.

Calls travel on the kernel's lean transport (kernel/leanrpc.py: one channel
per connection, replies by direct reply-to or a reply queue per connection
(``RPC_REPLY_TO``), transient messages). ``rpc`` is the
entrypoint services use; ``TimedRpcProxy`` (in a container) and
``cluster_proxy`` (standalone) give each call a deadline
(``RPC_TIMEOUT_SECONDS``), expire the request message at the same moment so a
late service does not act on an abandoned call, and raise
``nameko.exceptions.RpcTimeout``.

Identity (GW-2): the gateway authenticates and puts ``Caller`` into the worker
context (``caller`` key); nameko propagates context data as message headers,
so the service sees the same caller and checks access again.

The header is signed: ``<payload>.<HMAC-SHA256>`` (both base64url) with the
shared ``CALLER_SIGNING_KEY``, the payload carrying an expiry a few minutes
ahead (``CALLER_IDENTITY_TTL_SECONDS``). Anything that can publish to the broker
but does not hold the key cannot act as someone else: a service refuses an
unsigned, altered or expired identity (``CallerIdentity.require``).
"""
import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import asdict, dataclass, field

from nameko.extensions import DependencyProvider

from kernel.config import secret_setting, setting
from kernel.errors import Unauthorized
from kernel.leanrpc import Rpc as _Rpc
from kernel.leanrpc import RpcClientExtension, ServiceProxy, StandaloneRpc

_log = logging.getLogger(__name__)

# Development only: kernel.config.secret_setting refuses it when QQ_ENV=production.
DEV_CALLER_SIGNING_KEY = "qinqing-development-caller-key-never-use-in-production"
DEFAULT_IDENTITY_TTL = 300  # seconds a signed identity is honoured


def caller_signing_key(config) -> bytes:
    return secret_setting(config, "CALLER_SIGNING_KEY", DEV_CALLER_SIGNING_KEY).encode("utf-8")


def identity_ttl(config) -> float:
    return float(setting(config, "CALLER_IDENTITY_TTL_SECONDS", DEFAULT_IDENTITY_TTL))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())

ROLES = ("enterprise", "department", "channel", "taskforce", "admin", "system")


@dataclass(frozen=True)
class Caller:
    """Who is asking. ``org``: credit code (enterprise), department code
    (department), channel code (channel integrator)."""
    role: str
    sub: str = ""
    org: str = ""
    name: str = ""
    scopes: tuple = field(default_factory=tuple)

    def to_header(self, key: bytes, ttl: float = DEFAULT_IDENTITY_TTL, now=None) -> str:
        """The signed identity: ``<payload>.<mac>``, valid for ``ttl`` seconds."""
        d = asdict(self)
        d["scopes"] = list(self.scopes)
        d["exp"] = int((now if now is not None else time.time()) + ttl)
        payload = _b64(json.dumps(d, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{_mac(key, payload)}"

    @classmethod
    def from_header(cls, raw, key: bytes, now=None):
        """The caller a header names, or None when it is absent, unsigned,
        altered or expired."""
        if not raw or not isinstance(raw, str) or raw.count(".") != 1:
            return None
        payload, mac = raw.split(".")
        if not hmac.compare_digest(mac.encode("ascii", "replace"),
                                   _mac(key, payload).encode("ascii")):
            return None
        try:
            d = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(d, dict) or d.get("role") not in ROLES:
            return None
        if not isinstance(d.get("exp"), int) or d["exp"] < (now if now is not None else time.time()):
            return None
        return cls(role=d["role"], sub=d.get("sub", ""), org=d.get("org", ""),
                   name=d.get("name", ""), scopes=tuple(d.get("scopes", ())))

    @property
    def is_staff(self):
        return self.role in ("taskforce", "admin", "system")


SYSTEM = Caller(role="system", sub="system")


class CallerIdentity(DependencyProvider):
    """``self.caller.get()`` in an entrypoint; ``require()`` refuses anonymous
    calls and identities not signed with ``CALLER_SIGNING_KEY`` (or expired).
    In production an unset key stops the service at start."""

    def bind(self, container, attr_name):
        # Checked when the container is made, before any extension starts: a
        # refusal then leaves nothing half set up (setups run concurrently).
        caller_signing_key(container.config)
        return super().bind(container, attr_name)

    def setup(self):
        self.key = caller_signing_key(self.container.config)
        self.ttl = identity_ttl(self.container.config)

    class Handle:
        def __init__(self, worker_ctx, key, ttl=DEFAULT_IDENTITY_TTL):
            self._ctx = worker_ctx
            self._key = key
            self._ttl = ttl

        def get(self):
            raw = self._ctx.data.get("caller")
            caller = Caller.from_header(raw, self._key)
            if raw and caller is None:
                _log.warning("refused a caller identity that is unsigned, altered or expired")
            return caller

        def require(self):
            caller = self.get()
            if caller is None:
                raise Unauthorized("no valid caller identity in the call context")
            return caller

        def set(self, caller: Caller):
            """Used by the gateway: every RPC it makes from now carries ``caller``."""
            self._ctx.data["caller"] = caller.to_header(self._key, self._ttl)

        def set_request_id(self, request_id):
            self._ctx.data["request_id"] = request_id

    def get_dependency(self, worker_ctx):
        return self.Handle(worker_ctx, self.key, self.ttl)


class TimedRpcProxy(DependencyProvider):
    """``appeals = TimedRpcProxy("appeals")``: calls through the container's one
    lean RPC client (kernel.leanrpc), each with a deadline, carrying the
    worker's context (caller identity, request id, call id stack)."""

    client = RpcClientExtension()

    def __init__(self, target_service, timeout=None, **options):
        self.target_service = target_service
        self.timeout = timeout
        self.options = options

    def get_dependency(self, worker_ctx):
        timeout = self.timeout or float(setting(self.container.config, "RPC_TIMEOUT_SECONDS"))
        # read at call time: the gateway sets the caller after injection
        return ServiceProxy(self.client.client, self.target_service,
                            lambda: worker_ctx.context_data, timeout)


def cluster_proxy(config, caller: Caller = None, timeout=None, request_id=None):
    """A standalone client (CLI, tests, benchmarks): ``with cluster_proxy(…) as
    proxy: proxy.appeals.ping()``. One connection, safe to share between green
    threads. The caller is signed with the config's ``CALLER_SIGNING_KEY``."""
    context = {}
    if caller is not None:
        context["caller"] = caller.to_header(caller_signing_key(config), identity_ttl(config))
    if request_id:
        context["request_id"] = request_id
    return StandaloneRpc(config, context_data=context,
                         timeout=timeout or float(setting(config, "RPC_TIMEOUT_SECONDS")))


# Errors a client causes: nameko logs them as warnings, not as crashes.
from kernel.errors import BadInput, Conflict, Forbidden, NotFound  # noqa: E402

CLIENT_ERRORS = (BadInput, NotFound, Forbidden, Unauthorized, Conflict)


def rpc(fn=None, **options):
    """``@rpc`` with the client errors marked expected."""
    options.setdefault("expected_exceptions", CLIENT_ERRORS)
    if fn is not None:
        return _Rpc.decorator(**options)(fn)
    return _Rpc.decorator(**options)
