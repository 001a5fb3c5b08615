"""What every routes module shares: the gateway's dependencies and helpers."""
import datetime as dt
import re
from pathlib import Path


from kernel.audit import AuditTrail
from kernel.db import Database
from kernel.errors import BadInput
from kernel.health import AdminServer
from kernel.logs import CallIdLogging
from kernel.metrics import Metrics

from ..auth import Gate
from ..circuit import GuardedRpcProxy

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class RoutesBase:
    db = Database(MIGRATIONS)  # API keys only
    gate = Gate()
    metrics = Metrics()
    logs = CallIdLogging()
    admin = AdminServer()  # /healthz, /readyz, /metrics on ADMIN_PORT, off the public port
    audit = AuditTrail()  # API keys made and revoked: who, when, request id
    # The reference data (channels, departments) every client form needs comes
    # from the appeals service, so the proxy is shared by all route modules.
    appeals = GuardedRpcProxy("appeals")



def rpc_safe(data):
    """Validated input as plain JSON for an RPC call (datetimes as ISO 8601)."""
    if isinstance(data, dict):
        return {k: rpc_safe(v) for k, v in data.items()}
    if isinstance(data, list):
        return [rpc_safe(v) for v in data]
    if isinstance(data, (dt.datetime, dt.date)):
        return data.isoformat()
    return data


_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,100}$")  # printable ASCII, no spaces


def idempotency(request):
    """``{"idempotency_key": …}`` from the ``Idempotency-Key`` header, or {} (GW-3).
    The appeals service keys it by caller: the same key from the same caller
    gives the same appeal, made once; another caller's same key is another's."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return {}
    if not _IDEMPOTENCY_KEY.match(key):
        raise BadInput({"Idempotency-Key": ["must be 1 to 100 printable ASCII characters"]})
    return {"idempotency_key": key}
