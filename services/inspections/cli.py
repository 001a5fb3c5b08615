"""A small command line for the inspections service's RPC API.

    python -m services.inspections.cli --as department:clerk-1:market \\
        file_inspection '{"enterprise_code": "91433126MA4L00020C", ...}'
    python -m services.inspections.cli --as taskforce:tf-head:taskforce act 1 '"approve"' '{"note": "同意"}'
    python -m services.inspections.cli --as department:clerk-1:market \\
        entry_code 1 '"png"' --out code.png

Each argument after the method is JSON (a bare word that is not JSON is taken
as a string). ``--as`` is ROLE:SUB:ORG[:SCOPE,SCOPE]; the broker comes from
``AMQP_URI``. Prints the answer as JSON; a refused call prints the error and
exits 1.
"""
import eventlet

eventlet.monkey_patch()  # before anything imports socket or threading

import argparse  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

from kernel.config import setting  # noqa: E402
from kernel.errors import QinqingError  # noqa: E402
from kernel.rpc import Caller, cluster_proxy  # noqa: E402


def parse_caller(text):
    if not text:
        return None
    parts = text.split(":")
    if len(parts) < 3:
        raise SystemExit("--as takes ROLE:SUB:ORG[:SCOPE,SCOPE]")
    scopes = tuple(s for s in parts[3].split(",") if s) if len(parts) > 3 else ()
    return Caller(role=parts[0], sub=parts[1], org=parts[2], scopes=scopes)


def parse_arg(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m services.inspections.cli",
                                     description="Call the inspections service.")
    parser.add_argument("--as", dest="caller", help="ROLE:SUB:ORG[:SCOPE,SCOPE]")
    parser.add_argument("--amqp", help="broker URI (default: AMQP_URI)")
    parser.add_argument("--out", help="write content_base64 of the answer to this file")
    parser.add_argument("method")
    parser.add_argument("args", nargs="*")
    ns = parser.parse_args(argv)
    config = {"AMQP_URI": ns.amqp or setting(None, "AMQP_URI")}
    args = [parse_arg(a) for a in ns.args]
    with cluster_proxy(config, parse_caller(ns.caller)) as proxy:
        try:
            answer = getattr(proxy.inspections, ns.method)(*args)
        except QinqingError as exc:
            print(json.dumps({"error": type(exc).__name__, "detail": exc.detail, **exc.extra},
                             ensure_ascii=False, indent=2), file=sys.stderr)
            return 1
    if ns.out and isinstance(answer, dict) and "content_base64" in answer:
        with open(ns.out, "wb") as f:
            f.write(base64.b64decode(answer.pop("content_base64")))
        answer["written_to"] = ns.out
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
