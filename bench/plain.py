"""The reference for the work itself (issue #16): a plain program that files
an appeal with nothing but the HTTP stack and ONE INSERT per POST.

``POST /api/v1/appeals`` on eventlet.wsgi + werkzeug (the stack nameko and
``bench/monolith.py`` use): read the JSON body, INSERT one row into the same
``appeals`` table of the same database (the columns the service fills, with
fixed tier, status and deadline: no rules), commit, answer 201 with the id.
No token check, no validation, no routing, no history, no events — what a
county's simplest form-to-table program would do. The in-process monolith's
rate over this one says what the platform's *work* per appeal costs beyond
the floor (goal ≥ 0.5×).

    python -m bench.plain --port 8091 --db-url postgresql://...
"""
import eventlet

eventlet.monkey_patch()  # before anything imports socket or threading

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402

import psycopg2  # noqa: E402
from eventlet import wsgi  # noqa: E402
from eventlet.queue import LightQueue  # noqa: E402
from psycogreen.eventlet import patch_psycopg  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

patch_psycopg()  # psycopg2 yields to other green threads while it waits

_INSERT = """
INSERT INTO appeals (channel, enterprise_code, contact_name, contact_phone, category, town,
    title, content, attachments, tier, status, received_at, due_at, under_review,
    reopen_count, instructions, extensions, escalation_level, sweep_failures, created_by,
    created_at, updated_at, version)
VALUES (%(channel)s, %(enterprise_code)s, %(contact_name)s, %(contact_phone)s, %(category)s,
    %(town)s, %(title)s, %(content)s, '[]', 'yellow', 'received', %(now)s,
    %(now)s + interval '5 days', false, 0, 0, 0, 0, 0, 'plain', %(now)s, %(now)s, 1)
RETURNING id
"""


def make_app(db_url, pool_size=16):
    pool = LightQueue()
    for _ in range(pool_size):
        pool.put(psycopg2.connect(db_url))

    def app(environ, start_response):
        request = Request(environ)
        if request.path == "/healthz":
            return Response('{"status": "ok"}', mimetype="application/json")(environ, start_response)
        if request.path != "/api/v1/appeals" or request.method != "POST":
            return Response('{"error": "not found"}', status=404,
                            mimetype="application/json")(environ, start_response)
        body = request.get_json(silent=True) or {}
        row = {k: body.get(k) for k in ("channel", "contact_name", "contact_phone", "category",
                                        "town", "title", "content")}
        row["enterprise_code"] = body.get("enterprise_code") or "91433126MA4L00010B"
        row["now"] = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        conn = pool.get()
        try:
            with conn, conn.cursor() as cur:  # one transaction: the INSERT, then COMMIT
                cur.execute(_INSERT, row)
                appeal_id = cur.fetchone()[0]
        finally:
            pool.put(conn)
        return Response(json.dumps({"id": appeal_id}), status=201,
                        mimetype="application/json")(environ, start_response)

    return app


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.plain")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-url", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    url = args.db_url.replace("postgresql+psycopg2://", "postgresql://")
    app = make_app(url)
    log = logging.getLogger("bench.plain.access")
    sock = eventlet.listen(("127.0.0.1", args.port))
    print("ready", flush=True)
    wsgi.server(sock, app, log=log, log_output=False, debug=False)


if __name__ == "__main__":
    main()
