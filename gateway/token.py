"""Mint a development token (HS256) for trying the API with curl.

    GATEWAY_JWT_SECRET=… python -m gateway.token --role enterprise --org 91433126MA4L00010B
    python -m gateway.token --dev --role taskforce      # the documented development secret

Prints the token and nothing else. Needs GATEWAY_JWT_SECRET, or ``--dev`` /
``GATEWAY_DEV=1`` for the development secret the gateway also accepts only
in dev mode. Production tokens come from the identity provider (RS256).
"""
import argparse
import datetime as dt
import os
import sys

import jwt
from marshmallow import ValidationError

from kernel.config import CountyProfile
from kernel.validators import normalise_credit_code

from .access import DEPARTMENT, ENTERPRISE, TOKEN_ROLES
from .credentials import DEV_JWT_SECRET, MAX_SUB, is_dev


def mint(secret, role, org="", sub=None, ttl_seconds=3600, now=None, scope=""):
    now = now or dt.datetime.now(dt.timezone.utc)
    claims = {"sub": sub or f"dev-{role}", "role": role, "org": org,
              "iat": now, "exp": now + dt.timedelta(seconds=ttl_seconds)}
    if scope:
        claims["scope"] = scope
    return jwt.encode(claims, secret, algorithm="HS256")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gateway.token", description=__doc__.split("\n")[0])
    parser.add_argument("--role", required=True, choices=TOKEN_ROLES)
    parser.add_argument("--org", default="", help="credit code (enterprise) or department code")
    parser.add_argument("--sub", help=f"the user (at most {MAX_SUB} characters); default dev-<role>")
    parser.add_argument("--scope", default="",
                        help="space-separated scopes, e.g. inspections:approve (the task force's head)")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds the token lives (default 3600)")
    parser.add_argument("--dev", action="store_true",
                        help="use the development secret when GATEWAY_JWT_SECRET is not set")
    args = parser.parse_args(argv)

    secret = os.environ.get("GATEWAY_JWT_SECRET")
    if not secret:
        if not (args.dev or is_dev(None)):
            parser.exit(2, "GATEWAY_JWT_SECRET is not set (or pass --dev for the development "
                           "secret, which only a gateway with GATEWAY_DEV=1 accepts)\n")
        secret = DEV_JWT_SECRET
    org = args.org
    if args.role == ENTERPRISE:
        try:
            org = normalise_credit_code(org)
        except ValidationError as exc:
            parser.exit(2, f"--org: {exc.messages[0]}\n")
    elif args.role == DEPARTMENT:
        departments = CountyProfile.from_config(None).departments
        if org not in departments:
            parser.exit(2, f"--org: not a department of this county; one of {', '.join(departments)}\n")
    if args.sub is not None and not 0 < len(args.sub) <= MAX_SUB:
        parser.exit(2, f"--sub: 1 to {MAX_SUB} characters\n")
    if args.ttl < 1:
        parser.exit(2, "--ttl: at least 1 second\n")
    sys.stdout.write(mint(secret, args.role, org, args.sub, args.ttl, scope=args.scope) + "\n")


if __name__ == "__main__":
    main()
