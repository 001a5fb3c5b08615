"""RPC with a timeout on every call, and the caller's identity passed along.

nameko 2.x's ``RpcProxy`` waits forever for a reply; ``TimedRpcProxy`` gives
each call a deadline (``RPC_TIMEOUT_SECONDS``), expires the request message at
the same moment so a late service does not act on an abandoned call, and
raises ``nameko.exceptions.RpcTimeout``.

Identity (GW-2): the gateway authenticates and puts ``Caller`` into the worker
context (``caller`` key); nameko propagates context data as message headers,
so the service sees the same caller and checks access again.
"""
import json
from dataclasses import asdict, dataclass, field

import eventlet
from nameko.exceptions import RpcTimeout
from nameko.extensions import DependencyProvider
from nameko.rpc import MethodProxy, RpcProxy, ServiceProxy
from nameko.standalone.rpc import ClusterRpcProxy

from kernel.config import setting
from kernel.errors import Unauthorized

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

    def to_header(self) -> str:
        d = asdict(self)
        d["scopes"] = list(self.scopes)
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_header(cls, raw):
        if not raw:
            return None
        d = json.loads(raw) if isinstance(raw, str) else dict(raw)
        if d.get("role") not in ROLES:
            return None
        return cls(role=d["role"], sub=d.get("sub", ""), org=d.get("org", ""),
                   name=d.get("name", ""), scopes=tuple(d.get("scopes", ())))

    @property
    def is_staff(self):
        return self.role in ("taskforce", "admin", "system")


SYSTEM = Caller(role="system", sub="system")


class CallerIdentity(DependencyProvider):
    """``self.caller.get()`` in an entrypoint; ``require()`` refuses anonymous calls."""

    class Handle:
        def __init__(self, worker_ctx):
            self._ctx = worker_ctx

        def get(self):
            return Caller.from_header(self._ctx.data.get("caller"))

        def require(self):
            caller = self.get()
            if caller is None:
                raise Unauthorized("no caller identity in the call context")
            return caller

        def set(self, caller: Caller):
            """Used by the gateway: every RPC it makes from now carries ``caller``."""
            self._ctx.data["caller"] = caller.to_header()

        def set_request_id(self, request_id):
            self._ctx.data["request_id"] = request_id

    def get_dependency(self, worker_ctx):
        return self.Handle(worker_ctx)


class _TimedMethodProxy(MethodProxy):
    def __init__(self, *args, timeout=None, **options):
        self.timeout = timeout
        if timeout:
            options.setdefault("expiration", timeout)
        super().__init__(*args, **options)

    def __call__(self, *args, **kwargs):
        reply = self._call(*args, **kwargs)
        try:
            with eventlet.Timeout(self.timeout, RpcTimeout(self.timeout)):
                return reply.result()
        except RpcTimeout:
            raise RpcTimeout(f"{self.service_name}.{self.method_name} gave no reply in {self.timeout}s")


class _TimedServiceProxy(ServiceProxy):
    def __init__(self, *args, timeout=None, **options):
        self.timeout = timeout
        super().__init__(*args, **options)

    def __getattr__(self, name):
        return _TimedMethodProxy(self.worker_ctx, self.service_name, name, self.reply_listener,
                                 timeout=self.timeout, **self.options)


class TimedRpcProxy(RpcProxy):
    def __init__(self, target_service, timeout=None, **options):
        self.timeout = timeout
        super().__init__(target_service, **options)

    def get_dependency(self, worker_ctx):
        timeout = self.timeout or float(setting(self.container.config, "RPC_TIMEOUT_SECONDS"))
        return _TimedServiceProxy(worker_ctx, self.target_service, self.rpc_reply_listener,
                                  timeout=timeout, **self.options)


def cluster_proxy(config, caller: Caller = None, timeout=None, request_id=None):
    """A standalone proxy (CLI, tests, benchmarks) — one per green thread, never shared."""
    context = {}
    if caller is not None:
        context["caller"] = caller.to_header()
    if request_id:
        context["request_id"] = request_id
    return ClusterRpcProxy(config, context_data=context,
                           timeout=timeout or float(setting(config, "RPC_TIMEOUT_SECONDS")))


# Errors a client causes: nameko logs them as warnings, not as crashes.
from nameko.rpc import Rpc as _Rpc  # noqa: E402

from kernel.errors import BadInput, Conflict, Forbidden, NotFound  # noqa: E402

CLIENT_ERRORS = (BadInput, NotFound, Forbidden, Unauthorized, Conflict)


def rpc(fn=None, **options):
    """``@rpc`` with the client errors marked expected."""
    options.setdefault("expected_exceptions", CLIENT_ERRORS)
    if fn is not None:
        return _Rpc.decorator(**options)(fn)
    return _Rpc.decorator(**options)
