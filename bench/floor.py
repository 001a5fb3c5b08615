"""The floor: what the broker and the HTTP stack cost with nothing of ours on top.

- ``serve-kombu`` / ``call-kombu``: raw kombu request/reply on the same broker
  (a queue on the default exchange, ``reply_to`` + ``correlation_id``), one
  caller sequential or N requests kept in flight. The reply is about the size
  of an appeal as ``get_appeal`` returns it, so the bytes moved match the
  platform's read call. ``--guarantees`` turns on what nameko's RPC publishes
  with (persistent messages, publisher confirms) to show what they cost.
- ``serve-hello``: a plain WSGI hello on eventlet.wsgi + werkzeug (nameko's
  own HTTP stack), no nameko in between.
  (``bench.hello_service`` is the same hello as a nameko ``@http`` entrypoint.)

Run as ``python -m bench.floor <command> ...``; a client prints one JSON line.
"""
import argparse
import json
import sys
import time
import uuid

# An answer shaped like get_appeal's (≈1 KB of JSON).
APPEAL_LIKE = {
    "id": 123456, "channel": "mini_program", "enterprise_code": "91433126MA4L00010B",
    "enterprise_name": "示范县茶业有限公司", "contact_name": "张明", "contact_phone": "+8613912340001",
    "category": "permit", "town": "hongshi", "title": "营业执照变更迟迟未办",
    "content": "提交材料已两周, 仍未办结", "attachments": [], "tier": "yellow", "status": "assigned",
    "lead_department": "approval", "co_departments": ["market"],
    "received_at": "2026-03-02T01:02:03.000004+00:00", "due_at": "2026-03-09T15:59:59.999999+00:00",
    "overdue": False, "replied_at": None, "replied_on_time": None, "reply_content": None,
    "rating": None, "rating_comment": None, "closed_at": None, "under_review": False,
    "reopen_count": 0, "extension_request": None, "escalation_level": 0, "escalation_step": None,
    "created_at": "2026-03-02T01:02:03.000004+00:00", "updated_at": "2026-03-02T01:02:03.000004+00:00",
    "history": [
        {"at": "2026-03-02T01:02:03.000004+00:00", "actor": "enterprise:user-a", "action": "create",
         "from_status": None, "to_status": "received", "note": "小程序"},
        {"at": "2026-03-02T01:02:03.000004+00:00", "actor": "system:routing", "action": "assign",
         "from_status": "received", "to_status": "assigned", "note": "→ approval"},
    ],
}


def _connection(uri, guarantees):
    from kombu import Connection
    options = {"confirm_publish": True} if guarantees else {}
    return Connection(uri, transport_options=options, connect_timeout=5, heartbeat=0)


def serve_kombu(args):
    from kombu import Consumer, Producer, Queue
    delivery_mode = 2 if args.guarantees else 1
    with _connection(args.amqp, args.guarantees) as conn:
        channel = conn.channel()
        producer = Producer(conn.channel(), serializer="json")
        queue = Queue(args.queue, routing_key=args.queue, durable=args.guarantees,
                      auto_delete=not args.guarantees)

        def on_request(body, message):
            producer.publish(APPEAL_LIKE, routing_key=message.properties["reply_to"],
                             correlation_id=message.properties["correlation_id"],
                             delivery_mode=delivery_mode, retry=False)
            message.ack()

        consumer = Consumer(channel, queues=[queue], callbacks=[on_request], prefetch_count=64)
        consumer.consume()
        print("ready", flush=True)
        while True:
            conn.drain_events()


def call_kombu(args):
    from kombu import Consumer, Producer, Queue
    from bench.common import latency_summary
    delivery_mode = 2 if args.guarantees else 1
    latencies, pending = [], {}
    with _connection(args.amqp, args.guarantees) as conn:
        channel = conn.channel()
        reply_queue = Queue(f"bench-reply-{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True)
        state = {"measuring": False}

        def on_reply(body, message):
            started = pending.pop(message.properties["correlation_id"], None)
            if started is not None and state["measuring"]:
                latencies.append(time.perf_counter() - started)

        consumer = Consumer(channel, queues=[reply_queue], callbacks=[on_reply], no_ack=True)
        consumer.consume()
        producer = Producer(conn.channel(), serializer="json")

        def send():
            corr = uuid.uuid4().hex
            pending[corr] = time.perf_counter()
            producer.publish({"args": [123456], "kwargs": {}}, routing_key=args.queue,
                             reply_to=reply_queue.name, correlation_id=corr,
                             delivery_mode=delivery_mode, retry=False)

        def run_for(seconds):
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                while len(pending) < args.inflight:
                    send()
                conn.drain_events(timeout=10)
            while pending:  # let the last ones land (not counted after the window)
                conn.drain_events(timeout=10)

        run_for(args.warmup)
        cpu0 = time.process_time()
        state["measuring"] = True
        started = time.perf_counter()
        run_for(args.seconds)
        wall = time.perf_counter() - started
        out = latency_summary(latencies, wall)
        out["client_cpu_cores"] = (time.process_time() - cpu0) / wall
        print(json.dumps(out), flush=True)


def serve_hello(args):
    import eventlet
    eventlet.monkey_patch()
    import logging
    from eventlet import wsgi
    from werkzeug.wrappers import Request, Response

    body = json.dumps({"hello": "world"})

    def app(environ, start_response):
        Request(environ)  # parse as a werkzeug app would
        return Response(body, mimetype="application/json")(environ, start_response)

    log = logging.getLogger("bench.hello")
    log.setLevel(logging.WARNING)
    sock = eventlet.listen(("127.0.0.1", args.port))
    print("ready", flush=True)
    wsgi.server(sock, app, log=log, log_output=False, debug=False)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve-kombu")
    s.add_argument("--amqp", required=True)
    s.add_argument("--queue", required=True)
    s.add_argument("--guarantees", action="store_true")
    c = sub.add_parser("call-kombu")
    c.add_argument("--amqp", required=True)
    c.add_argument("--queue", required=True)
    c.add_argument("--inflight", type=int, default=1)
    c.add_argument("--seconds", type=float, default=5)
    c.add_argument("--warmup", type=float, default=1)
    c.add_argument("--guarantees", action="store_true")
    h = sub.add_parser("serve-hello")
    h.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    {"serve-kombu": serve_kombu, "call-kombu": call_kombu, "serve-hello": serve_hello}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
