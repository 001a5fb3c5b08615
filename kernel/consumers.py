"""Idempotent event consumers.

``consumes(source, event_type)`` wraps a service method as a nameko event
handler that (1) checks the envelope and the payload against the contract,
(2) records the ``event_id`` in ``processed_events`` in the same transaction as
the handler's effect. A redelivered event finds its id there and changes
nothing. A handler that fails rolls back and the message is tried again, up to
``max_attempts`` (``CONSUMER_MAX_ATTEMPTS``, 5) times, then set aside in the
service's dead-letter queue; a payload that breaks the contract can never
succeed and goes there at once (kernel.deadletters).
"""
import functools
import logging

from marshmallow import ValidationError
from sqlalchemy import select

from kernel.calendar import utcnow
from kernel.schemas import shared
from kernel.contracts import Envelope, schema_for
from kernel.deadletters import Poison, ReliableEventHandler

_log = logging.getLogger(__name__)


def consumes(source_service, event_type, processed_table_attr="processed_table",
             max_attempts=None, **options):
    """Decorate ``def handler(self, session, data, envelope)``; the service must
    have a ``db`` (kernel.db.Database) and a class attribute naming its
    processed-events table (default ``processed_table``). ``max_attempts``
    overrides the service's ``CONSUMER_MAX_ATTEMPTS`` for this handler."""

    def decorator(fn):
        handler_name = f"{fn.__module__}.{fn.__qualname__}"

        @functools.wraps(fn)
        def wrapper(self, body):
            try:
                envelope = shared(Envelope).load(body)
                data = schema_for(event_type).load(envelope["data"])
            except (ValidationError, KeyError, TypeError) as exc:
                raise Poison(f"{event_type} breaks its contract: {exc}"[:300]) from None
            event_id = str(envelope["event_id"])
            table = getattr(self, processed_table_attr)
            with self.db.transaction() as session:
                seen = session.execute(select(table.c.event_id).where(
                    table.c.event_id == event_id, table.c.handler == handler_name)).first()
                if seen:
                    _log.info("duplicate %s %s ignored", event_type, event_id)
                    return
                session.execute(table.insert().values(
                    event_id=event_id, handler=handler_name, processed_at=utcnow()))
                fn(self, session, data, envelope)

        options.setdefault("requeue_on_error", True)
        options.setdefault("expected_exceptions", Poison)
        return ReliableEventHandler.decorator(source_service, event_type,
                                              max_attempts=max_attempts, **options)(wrapper)

    return decorator
