"""Dead letters: a message that keeps failing is set aside, not retried forever.

``ReliableEventHandler`` is nameko's event handler with three changes:

- **Attempts are counted.** A handler that raises rolls back (kernel.consumers);
  the message is then published again to the tail of its queue with
  ``x-qq-attempts`` one higher (after a short back-off) and only then acked,
  so a failing message never blocks the ones behind it. After
  ``CONSUMER_MAX_ATTEMPTS`` (5) attempts — at once for a message that breaks
  its contract — it goes to the service's dead-letter queue
  ``deadletters.<service>`` with the error, the queue and the handler in its
  headers, counted in ``qinqing_dead_letters_total``. The consumer keeps going.
  Nothing is acked before the copy is confirmed by the broker; a crash in
  between gives a duplicate, which the idempotent consumer ignores. A failure
  of the database or the network (not of the message) is not counted: the
  message is requeued after a pause, however long the outage.
- **Quorum queues** (``EVENT_QUEUE_TYPE``, default ``quorum``; ``classic`` for
  a broker older than 3.8): replicated, durable, with a delivery count.
- **Bounded prefetch**: nameko sets each consumer's prefetch to the
  service's ``max_workers``; nothing here raises it.

``python -m kernel.deadletters list|replay --service appeals [--id MESSAGE_ID]``
lists the dead letters of a service (leaving them in place) or sends them back
to the queue they came from, after a fix.
"""
import argparse
import datetime as dt
import json
import logging
import sys
import uuid

import eventlet
from amqp.exceptions import ConnectionError as AMQPConnectionError
from eventlet.semaphore import Semaphore
from kombu import Connection, Exchange, Queue
from nameko.events import EventHandler

from kernel.config import setting

_log = logging.getLogger(__name__)

ATTEMPTS = "x-qq-attempts"
DEFAULT_EXCHANGE = Exchange("", type="direct")


def _transient():
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout
    return (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, ConnectionError)


class Poison(Exception):
    """A message that can never succeed (it breaks its contract): dead-letter it at once."""


def deadletter_queue(service, queue_type="quorum"):
    args = {"x-queue-type": queue_type} if queue_type == "quorum" else {}
    return Queue(f"deadletters.{service}", exchange=DEFAULT_EXCHANGE,
                 routing_key=f"deadletters.{service}", durable=True, auto_delete=False,
                 queue_arguments=args)


class _Republisher:
    """Publishes copies of messages with publisher confirms; one connection per handler."""

    def __init__(self, uri):
        self.uri = uri
        self._conn = None
        self._lock = Semaphore(1)

    def publish(self, body, message, routing_key, headers, declare=None):
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = Connection(self.uri, connect_timeout=5,
                                            transport_options={"confirm_publish": True})
                producer = self._conn.Producer(exchange=DEFAULT_EXCHANGE)
                producer.publish(body, routing_key=routing_key, headers=headers,
                                 content_type=message.content_type,
                                 content_encoding=message.content_encoding,
                                 delivery_mode=2, declare=declare or [], retry=False,
                                 message_id=message.properties.get("message_id")
                                 or str(uuid.uuid4()))
            except Exception:
                self.close()
                raise

    def close(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # already broken
                pass


class ReliableEventHandler(EventHandler):

    def __init__(self, source_service, event_type, max_attempts=None, **kwargs):
        self.max_attempts = max_attempts
        super().__init__(source_service, event_type, **kwargs)

    def setup(self):
        super().setup()
        config = self.container.config
        self.queue_type = str(setting(config, "EVENT_QUEUE_TYPE", "quorum"))
        if self.queue_type == "quorum" and self.queue.durable and not self.queue.exclusive \
                and not self.queue.auto_delete:
            self.queue.queue_arguments = {**(self.queue.queue_arguments or {}),
                                          "x-queue-type": "quorum"}
        self.max_attempts = int(self.max_attempts or setting(config, "CONSUMER_MAX_ATTEMPTS", 5))
        self.backoff = float(setting(config, "CONSUMER_RETRY_BACKOFF_SECONDS", 0.2))
        self.publisher = _Republisher(setting(config, "AMQP_URI"))

    def stop(self):
        super().stop()
        self.publisher.close()

    def kill(self):
        super().kill()
        self.publisher.close()

    def _settle(self, settle, message):
        """Ack or requeue; a connection gone meanwhile is no error (nameko's own
        ack catches only amqp's ConnectionError, not the socket's, and the
        worker's exception would kill the whole container): the broker
        redelivers the unacked message and ``processed_events`` drops the repeat."""
        try:
            settle(message)
        except (OSError, AMQPConnectionError) as exc:
            _log.warning("%s not settled, the connection is gone (%s): it comes again",
                         self.event_type, type(exc).__name__)

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is None:
            self._settle(self.queue_consumer.ack_message, message)
            return
        headers = dict(message.headers or {})
        attempt = int(headers.get(ATTEMPTS, 1))
        poison = issubclass(exc_info[0], Poison)
        if issubclass(exc_info[0], _transient()):
            # the database or the network is away, not the message at fault:
            # it comes again, uncounted, however long the outage lasts
            eventlet.sleep(min(self.backoff * 5, 2.0))
            self._settle(self.queue_consumer.requeue_message, message)
            return
        try:
            if poison or attempt >= self.max_attempts:
                self._dead_letter(message, headers, attempt, exc_info)
            else:
                self._count("qinqing_consumer_retries_total", "Handler failures retried")
                eventlet.sleep(min(self.backoff * 2 ** (attempt - 1), 5.0))
                self.publisher.publish(message.body, message, self.queue.name,
                                       {**headers, ATTEMPTS: attempt + 1})
        except Exception as exc:  # the broker is away: give it back, it comes again
            _log.warning("cannot set aside a failed %s (%s); requeued", self.event_type,
                         type(exc).__name__)
            self._settle(self.queue_consumer.requeue_message, message)
            return
        self._settle(self.queue_consumer.ack_message, message)

    def _dead_letter(self, message, headers, attempt, exc_info):
        error = f"{exc_info[0].__name__}: {exc_info[1]}"[:500]
        dlq = deadletter_queue(self.container.service_name, self.queue_type)
        self.publisher.publish(message.body, message, dlq.routing_key, {
            **headers, ATTEMPTS: attempt, "x-qq-error": error, "x-qq-queue": self.queue.name,
            "x-qq-handler": self.method_name, "x-qq-event-type": self.event_type,
            "x-qq-failed-at": dt.datetime.now(dt.timezone.utc).isoformat(),
        }, declare=[dlq])
        self._count("qinqing_dead_letters_total", "Messages set aside after failing",
                    error=exc_info[0].__name__)
        _log.error("%s set aside in %s after %d attempt(s): %s", self.event_type, dlq.name,
                   attempt, exc_info[0].__name__)

    def _count(self, name, documentation, **labels):
        from kernel.metrics import Metrics
        metrics = next((d for d in self.container.dependencies if isinstance(d, Metrics)), None)
        if metrics is not None:
            names = ["handler"] + sorted(labels)
            metrics.counter(name.removesuffix("_total"), documentation, names).labels(
                self.method_name, *(labels[k] for k in sorted(labels))).inc()


# -- the command -------------------------------------------------------------------------

def _drain(conn, service, queue_type):
    """Every dead letter of a service, unacked (they go back when the channel closes)."""
    channel = conn.channel()
    queue = deadletter_queue(service, queue_type)(channel)
    queue.declare()
    messages = []
    while True:
        message = queue.get(no_ack=False)
        if message is None:
            return channel, messages
        messages.append(message)


def describe(message):
    h = message.headers or {}
    try:
        body = json.loads(message.body)
    except (TypeError, ValueError):
        body = {}
    return {"message_id": message.properties.get("message_id"),
            "event_id": body.get("event_id") if isinstance(body, dict) else None,
            "event_type": h.get("x-qq-event-type"), "queue": h.get("x-qq-queue"),
            "handler": h.get("x-qq-handler"), "attempts": h.get(ATTEMPTS),
            "error": h.get("x-qq-error"), "failed_at": h.get("x-qq-failed-at")}


def list_deadletters(amqp_uri, service, queue_type="quorum"):
    with Connection(amqp_uri, connect_timeout=5) as conn:
        channel, messages = _drain(conn, service, queue_type)
        out = [describe(m) for m in messages]
        channel.close()  # unacked: every one stays in the queue
        return out


def replay_deadletters(amqp_uri, service, message_ids=None, queue_type="quorum"):
    """Send dead letters (all, or those ids) back to their queue with a fresh count;
    returns what was replayed."""
    replayed = []
    with Connection(amqp_uri, connect_timeout=5,
                    transport_options={"confirm_publish": True}) as conn:
        channel, messages = _drain(conn, service, queue_type)
        producer = conn.Producer(exchange=DEFAULT_EXCHANGE)
        for message in messages:
            info = describe(message)
            if message_ids and info["message_id"] not in message_ids:
                continue
            headers = {k: v for k, v in (message.headers or {}).items()
                       if not k.startswith("x-qq-")}
            producer.publish(message.body, routing_key=info["queue"], headers=headers,
                             content_type=message.content_type,
                             content_encoding=message.content_encoding, delivery_mode=2,
                             message_id=info["message_id"], retry=False)
            message.ack()  # only once the broker confirmed the copy
            replayed.append(info)
        channel.close()
    return replayed


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kernel.deadletters",
                                     description="List or replay a service's dead letters.")
    parser.add_argument("command", choices=("list", "replay"))
    parser.add_argument("--service", required=True)
    parser.add_argument("--id", action="append", dest="ids",
                        help="replay only this message id (repeatable)")
    parser.add_argument("--amqp-uri", default=None, help="default: AMQP_URI")
    args = parser.parse_args(argv)
    uri = args.amqp_uri or setting(None, "AMQP_URI")
    queue_type = str(setting(None, "EVENT_QUEUE_TYPE", "quorum"))
    if args.command == "list":
        result = list_deadletters(uri, args.service, queue_type)
    else:
        result = replay_deadletters(uri, args.service, set(args.ids or ()), queue_type)
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
