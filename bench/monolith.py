"""What a county might build instead: one process, one WSGI app, no broker.

``POST /api/v1/appeals`` with a bearer token (HS256, the gateway's secret and
claims), on the same HTTP stack as nameko's (eventlet.wsgi + werkzeug), doing
the same job as gateway → appeals: the very same ``create_appeal`` code of
``services.appeals.service`` (schema from ``services/appeals/schemas.py`` with
the kernel's credit-code and phone validators, routing, deadline, history and
the outbox event row), on the same tables of the same database — only called
in-process instead of over RPC. What the platform costs beyond this is the
price of its hops.

    python -m bench.monolith --port 8090 --db-url postgresql://... --secret ...
"""
import eventlet

eventlet.monkey_patch()  # before anything imports socket or threading

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import jwt  # noqa: E402
from eventlet import wsgi  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

from kernel.db import Database, Store, make_engine, migrate  # noqa: E402
from kernel.errors import BadInput, QinqingError, Unauthorized  # noqa: E402
from kernel.outbox import OutboxRelay, OutboxWriter  # noqa: E402
from kernel.rpc import ROLES, Caller  # noqa: E402
from services.appeals.models import outbox_table  # noqa: E402
from services.appeals.service import MIGRATIONS, AppealsService, Rules  # noqa: E402


class _CallerHandle:
    def __init__(self, caller):
        self._caller = caller

    def require(self):
        return self._caller

    def get(self):
        return self._caller


class Monolith:
    """The WSGI app. One ``AppealsService`` instance per request, its
    dependencies given directly instead of by a nameko container."""

    def __init__(self, db_url, secret, config=None):
        config = dict(config or {})
        self.secret = secret
        engine = make_engine(db_url)
        migrate(engine, MIGRATIONS)  # the same schema as the service's (idempotent)
        self.store = Store(engine, sessionmaker(engine, expire_on_commit=False))
        db = Database(MIGRATIONS)  # only as the handle Rules.start looks for
        db.store = self.store
        self.rules = Rules()
        self.rules.container = SimpleNamespace(config=config, dependencies=[db])
        self.rules.setup()
        self.rules.start()  # seeds the routing table on an empty database, as the service does
        # The event rows go to the same outbox table; nothing relays them
        # here (a monolith has no broker), the write is what is compared.
        self.relay = OutboxRelay(outbox_table)
        self.relay.service = "appeals"

    def caller(self, request):
        """The gateway's token check: HS256 JWT with sub, role, org, exp."""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            raise Unauthorized("a bearer token is required")
        try:
            claims = jwt.decode(auth[7:], self.secret, algorithms=["HS256"],
                                options={"require": ["exp", "sub", "role"]})
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc.__class__.__name__}")
        if claims["role"] not in ROLES:
            raise Unauthorized("unknown role")
        return Caller(role=claims["role"], sub=str(claims["sub"]), org=str(claims.get("org", "")))

    def service(self, caller):
        svc = AppealsService.__new__(AppealsService)
        svc.db = self.store
        svc.rules = self.rules
        svc.caller = _CallerHandle(caller)
        svc.outbox = OutboxWriter(self.relay, None)
        return svc

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            if request.path == "/healthz":
                return _json(200, {"status": "ok"})(environ, start_response)
            if request.path != "/api/v1/appeals" or request.method != "POST":
                return _json(404, {"error": "not found"})(environ, start_response)
            caller = self.caller(request)
            payload = request.get_json(silent=True)
            if not isinstance(payload, dict):
                raise BadInput({"_schema": ["expected a JSON object"]})
            appeal = self.service(caller).create_appeal(payload)
            return _json(201, appeal)(environ, start_response)
        except QinqingError as exc:  # BadInput 422 names the fields, 401, 403, 404, 409
            body = {"title": exc.title, "detail": exc.detail, **exc.extra}
            return _json(exc.status, body)(environ, start_response)


def _json(status, body):
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/json")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.monolith")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--preload", help="a module imported first (bench.run --candidate)")
    args = parser.parse_args(argv)
    if args.preload:
        importlib.import_module(args.preload)
    logging.basicConfig(level=logging.WARNING)
    app = Monolith(args.db_url, args.secret)
    log = logging.getLogger("bench.monolith.access")
    sock = eventlet.listen(("127.0.0.1", args.port))
    print("ready", flush=True)
    wsgi.server(sock, app, log=log, log_output=False, debug=False)


if __name__ == "__main__":
    main()
