"""A lean RPC transport for nameko services (issue 16).

nameko 2.x's RPC opens a publisher per call, publishes requests and replies
persistent with publisher confirms, and gives every proxy its own reply queue.
A call then costs several broker round trips. Here, on the same wire format
(the ``nameko-rpc`` topic exchange, ``rpc-<service>`` queues, ``{"args",
"kwargs"}`` requests, ``{"result", "error"}`` replies, ``nameko.*`` context
headers), a call is one publish each way:

- ``RpcServer`` (one per container, shared by its ``Rpc`` entrypoints): one
  connection, one channel, one consumer on ``rpc-<service>``, read by one green
  thread; replies go out transient, unconfirmed, on that channel, then the
  request is acked. It reconnects after the broker went away.
- ``RpcClient``: one connection and channel consuming RabbitMQ's direct
  reply-to (``amq.rabbitmq.reply-to``, no ack) — or, with ``RPC_REPLY_TO:
  queue``, one exclusive reply queue of its own per connection (see below);
  one reader green thread hands
  each reply to the caller waiting on its ``correlation_id``. Publishing is
  serialised by a lock, so any number of green threads can share one client.
  Requests are transient, expire with the caller's timeout (a late service
  does not act on an abandoned call) and are ``mandatory``: a call to a
  service with no queue fails at once with ``UnknownService``.

Why two ways back: the service answers a direct reply-to through the default
exchange, and RabbitMQ checks write permission on ``amq.default`` for that —
a permission that also lets its holder publish into any queue by name (such
as another service's event handler queues). Where each service has a broker
user of its own (production: scripts/broker-users.sh, k8s/), clients use
``RPC_REPLY_TO: queue``: a reply queue ``rpc.reply-<owner>-<id>`` per
connection (not per call or proxy), bound to ``nameko-rpc``, through which
services already may publish. One broker user for all (development, tests,
the benchmark) uses direct reply-to, the default.

Nothing here is confirmed by the broker: a reply lost in transit is the
caller's ``RpcTimeout``, as a crashed worker already was. Writes that must
not be lost go through the outbox (kernel/outbox.py), not through a reply.
"""
import inspect
import itertools
import logging
import socket
import sys
import time
import uuid
from functools import partial

import eventlet
import kombu.serialization
from amqp import Message
from eventlet.event import Event
from eventlet.semaphore import Semaphore
from kombu import Connection
from nameko.constants import (AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, DEFAULT_HEARTBEAT,
                              DEFAULT_MAX_WORKERS, HEADER_PREFIX, HEARTBEAT_CONFIG_KEY,
                              LOGIN_METHOD_CONFIG_KEY, MAX_WORKERS_CONFIG_KEY,
                              RPC_EXCHANGE_CONFIG_KEY)
from nameko.exceptions import (ContainerBeingKilled, IncorrectSignature, MalformedRequest,
                               MethodNotFound, RpcTimeout, UnknownService,
                               UnserializableValueError, deserialize, serialize)
from nameko.extensions import Entrypoint, ProviderCollector, SharedExtension
from nameko.serialization import setup as serialization_setup

from kernel.config import setting

_log = logging.getLogger(__name__)

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
TRANSIENT = 1
_PREFIX = HEADER_PREFIX + "."
_RECONNECT_MAX_SECONDS = 5.0


class ReplyLost(RpcTimeout):
    """The connection the reply would have come back on broke: no reply will
    come (the service may or may not have acted), exactly as after a timeout."""


class BrokerUnavailable(ConnectionError):
    """The broker could not be reached within the call's deadline."""


def rpc_exchange_name(config):
    return config.get(RPC_EXCHANGE_CONFIG_KEY, "nameko-rpc")


def _connection(config):
    return Connection(config[AMQP_URI_CONFIG_KEY],
                      heartbeat=config.get(HEARTBEAT_CONFIG_KEY, DEFAULT_HEARTBEAT),
                      ssl=config.get(AMQP_SSL_CONFIG_KEY),
                      login_method=config.get(LOGIN_METHOD_CONFIG_KEY),
                      connect_timeout=5)


def headers_of(context_data):
    """nameko's context data as message headers (``nameko.<key>``); None dropped."""
    return {_PREFIX + k: v for k, v in context_data.items() if v is not None}


def context_of(headers):
    """The context data a request's headers carry (the ``nameko.`` prefix removed)."""
    return {(k[len(_PREFIX):] if k.startswith(_PREFIX) else k): v
            for k, v in (headers or {}).items()}


class _Link:
    """One connection and its channel. ``Link.write`` serialises every frame
    written to the socket (publish, ack, heartbeat): the reader green thread is
    the only one that reads."""

    _ids = itertools.count(1)

    def __init__(self, config):
        self.id = next(self._ids)
        self.conn = _connection(config)
        try:
            self.conn.ensure_connection(max_retries=1)
            self.channel = self.conn.channel()
        except BaseException:
            self.conn.collect()
            raise
        self.write = Semaphore(1)
        self.alive = True
        self.consumer_tag = None
        self.next_heartbeat = 0.0
        self.errors = tuple(self.conn.connection_errors) + tuple(self.conn.channel_errors) + (
            OSError,)

    def tick(self, timeout):
        """Read (and dispatch) what arrives within ``timeout``; heartbeats."""
        try:
            self.conn.drain_events(timeout=timeout)
        except socket.timeout:
            pass
        now = time.monotonic()
        if now >= self.next_heartbeat:
            self.next_heartbeat = now + timeout
            with self.write:
                self.conn.heartbeat_check(rate=2)

    def close(self):
        """Close the connection (nobody else reads it any more)."""
        self.alive = False
        try:
            with eventlet.Timeout(2):
                self.conn.release()
        except (Exception, eventlet.Timeout):  # already broken: drop it without a handshake
            self.drop()

    def drop(self):
        """Forget a broken connection without talking to the broker."""
        self.alive = False
        try:
            self.conn.collect()
        except Exception:
            pass


def _tick_seconds(config):
    heartbeat = config.get(HEARTBEAT_CONFIG_KEY, DEFAULT_HEARTBEAT) or 0
    return min(1.0, heartbeat / 4) if heartbeat else 1.0


# -- the service side -----------------------------------------------------------------------

class RpcServer(SharedExtension, ProviderCollector):
    """Consumes ``rpc-<service>`` for all of a container's ``Rpc`` entrypoints."""

    def __init__(self):
        super().__init__()
        self.link = None
        self._reader = None
        self._accepting = False
        self._closing = False
        self._by_key = {}

    def setup(self):
        config = self.container.config
        self.service = self.container.service_name
        self.queue = f"rpc-{self.service}"
        self.exchange = rpc_exchange_name(config)
        self.serializer, accept = serialization_setup(config)
        self.accept = kombu.serialization.prepare_accept_content(accept)
        self.prefetch = config.get(MAX_WORKERS_CONFIG_KEY, DEFAULT_MAX_WORKERS)
        self.tick_seconds = _tick_seconds(config)

    def register_provider(self, provider):
        super().register_provider(provider)
        self._by_key[f"{self.container.service_name}.{provider.method_name}"] = provider

    def start(self):
        if self._reader is not None:
            return
        self._accepting = True
        # Consuming before start() returns, as nameko's consumers do: a caller
        # may call as soon as the container is up.
        self._open()
        self._reader = self.container.spawn_managed_thread(self._read_loop,
                                                           identifier="leanrpc.server")

    def _open(self):
        link = _Link(self.container.config)
        ch = link.channel
        try:
            ch.exchange_declare(self.exchange, "topic", durable=True, auto_delete=False)
            ch.queue_declare(self.queue, durable=True, auto_delete=False)
            ch.queue_bind(self.queue, self.exchange, f"{self.service}.*")
            ch.basic_qos(0, self.prefetch, False)
            link.consumer_tag = ch.basic_consume(self.queue,
                                                 callback=partial(self._on_request, link))
        except BaseException:
            link.drop()
            raise
        self.link = link

    def _read_loop(self):
        backoff = 0.1
        while not self._closing:
            link = self.link
            if link is None or not link.alive:
                try:
                    self._open()
                    _log.info("rpc consumer of %s reconnected", self.queue)
                    backoff = 0.1
                except Exception as exc:
                    _log.warning("rpc consumer of %s cannot connect (%s); retrying",
                                 self.queue, type(exc).__name__)
                    eventlet.sleep(backoff)
                    backoff = min(backoff * 2, _RECONNECT_MAX_SECONDS)
                continue
            try:
                link.tick(self.tick_seconds)
            except Exception as exc:
                if self._closing:
                    break
                _log.warning("rpc consumer of %s lost its connection (%s)",
                             self.queue, type(exc).__name__)
                link.drop()
                self.link = None

    def connected(self):
        """Whether the consumer's connection is up (readiness, kernel.health)."""
        link = self.link
        return link is not None and link.alive

    def _on_request(self, link, message):
        if not self._accepting:
            # stopping: another instance (or this one, restarted) takes it
            self._settle(link, message, requeue=True)
            return
        routing_key = message.delivery_info.get("routing_key", "")
        try:
            provider = self._by_key.get(routing_key)
            if provider is None:
                raise MethodNotFound(routing_key.split(".")[-1])
            body = self._decode(message)
            try:
                args, kwargs = body["args"], body["kwargs"]
            except (KeyError, TypeError):
                raise MalformedRequest("Message missing `args` or `kwargs`")
            provider.check_arguments(args, kwargs)
            context = context_of(message.headers)
            self.container.spawn_worker(
                provider, args, kwargs, context_data=context,
                handle_result=partial(self._handle_result, link, message))
        except ContainerBeingKilled:
            self._settle(link, message, requeue=True)
        except Exception:
            self.reply(link, message, None, sys.exc_info())

    def _decode(self, message):
        return kombu.serialization.loads(message.body, message.properties.get("content_type"),
                                         message.properties.get("content_encoding", "utf-8"),
                                         accept=self.accept)

    def _handle_result(self, link, message, worker_ctx, result, exc_info):
        return self.reply(link, message, result, exc_info)

    def reply(self, link, message, result, exc_info):
        """Answer a request (transient, unconfirmed) and ack it."""
        props = message.properties
        error = serialize(exc_info[1]) if exc_info is not None else None
        content_type = props.get("content_type")
        serializer = kombu.serialization.registry.type_to_name.get(content_type, self.serializer)
        try:
            content_type, encoding, body = kombu.serialization.dumps(
                {"result": result, "error": error}, serializer)
        except Exception:
            exc_info = sys.exc_info()
            # the error payload serialises whatever the result was
            result, error = None, serialize(UnserializableValueError(result))
            content_type, encoding, body = kombu.serialization.dumps(
                {"result": None, "error": error}, serializer)
        reply_to = props.get("reply_to")
        if reply_to:
            self.publish_reply(link, reply_to, props.get("correlation_id"),
                               Message(body, content_type=content_type,
                                       content_encoding=encoding, delivery_mode=TRANSIENT,
                                       correlation_id=props.get("correlation_id")))
        self._settle(link, message)
        return result, exc_info

    def publish_reply(self, link, reply_to, correlation_id, msg):
        # Direct reply-to answers go through the default exchange; a classic
        # nameko caller's reply queue is bound to the RPC exchange by its name.
        exchange = "" if reply_to.startswith(DIRECT_REPLY_TO) else self.exchange
        try:
            with link.write:
                link.channel.basic_publish(msg, exchange=exchange, routing_key=reply_to)
        except Exception as exc:  # the request is requeued with the dead channel
            _log.warning("rpc reply of %s not sent (%s)", self.queue, type(exc).__name__)

    def _settle(self, link, message, requeue=None):
        # A delivery tag means something only on the channel it came from: after
        # a reconnect the broker has requeued that request already.
        if not link.alive or link is not self.link:
            return
        tag = message.delivery_info["delivery_tag"]
        try:
            with link.write:
                if requeue:
                    link.channel.basic_reject(tag, requeue=True)
                else:
                    link.channel.basic_ack(tag)
        except Exception as exc:
            _log.warning("rpc ack of %s failed (%s)", self.queue, type(exc).__name__)

    def unregister_provider(self, provider):
        """The last entrypoint stopping stops consuming (workers still answer)."""
        super().unregister_provider(provider)
        if not self._providers and self._accepting:
            self._accepting = False
            link = self.link
            if link is not None and link.alive:
                try:
                    with link.write:
                        # nowait: the reader green thread is the only one that reads
                        link.channel.basic_cancel(link.consumer_tag, nowait=True)
                except Exception as exc:
                    _log.warning("rpc consumer of %s not cancelled (%s)",
                                 self.queue, type(exc).__name__)

    def _shut(self, graceful):
        self._closing = True
        self._accepting = False
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.kill()
        link, self.link = self.link, None
        if link is not None:
            link.close() if graceful else link.drop()

    def stop(self):
        self._shut(graceful=True)
        super().stop()

    def kill(self):
        self._shut(graceful=False)


class Rpc(Entrypoint):
    """``@rpc`` on a service method: called through ``RpcServer``."""

    server = RpcServer()

    def setup(self):
        fn = getattr(self.container.service_cls, self.method_name)
        self._signature = inspect.signature(fn)
        self.server.register_provider(self)

    def check_arguments(self, args, kwargs):
        """IncorrectSignature when the arguments do not fit the method (as nameko)."""
        try:
            self._signature.bind(None, *args, **kwargs)
        except TypeError as exc:
            raise IncorrectSignature(str(exc))

    def stop(self):
        self.server.unregister_provider(self)


# -- the caller side --------------------------------------------------------------------------

class _Pending:
    __slots__ = ("event", "link_id", "service", "method")

    def __init__(self, link_id, service, method):
        self.event = Event()
        self.link_id = link_id
        self.service = service
        self.method = method


class RpcClient:
    """One connection for all of a process's (or container's) calls; safe to
    share between green threads. ``start()`` connects, ``stop()`` closes."""

    def __init__(self, config, spawn=eventlet.spawn, owner="standalone"):
        self.config = config
        self.exchange = rpc_exchange_name(config)
        # "direct" (amq.rabbitmq.reply-to) or "queue" (a reply queue per connection)
        self.reply_mode = str(setting(config, "RPC_REPLY_TO", "direct")).lower()
        if self.reply_mode not in ("direct", "queue"):
            raise ValueError(f"RPC_REPLY_TO must be direct or queue, not {self.reply_mode!r}")
        self.owner = owner
        self.reply_to = DIRECT_REPLY_TO
        self.serializer, accept = serialization_setup(config)
        self.accept = kombu.serialization.prepare_accept_content(accept)
        self.tick_seconds = _tick_seconds(config)
        self._spawn = spawn
        self._pending = {}
        self.link = None
        self._up = Event()
        self._reader = None
        self._closing = False

    # lifecycle
    def start(self, lazy=False):
        """Connect (at once; with ``lazy`` the reader keeps trying in the background)."""
        if self._reader is not None:
            return self
        try:
            self._open()
        except Exception as exc:
            if not lazy:
                raise
            _log.warning("rpc client cannot connect yet (%s); retrying", type(exc).__name__)
        self._reader = self._spawn(self._read_loop)
        return self

    def stop(self):
        self._closing = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.kill()
        link, self.link = self.link, None
        if link is not None:
            link.close()
        self._fail_pending(None, ReplyLost("the RPC client was closed"))

    def _open(self):
        link = _Link(self.config)
        ch = link.channel
        try:
            ch.exchange_declare(self.exchange, "topic", durable=True, auto_delete=False)
            if self.reply_mode == "queue":
                # this connection's own reply queue, gone with it
                reply_to = f"rpc.reply-{self.owner}-{uuid.uuid4().hex}"
                ch.queue_declare(reply_to, exclusive=True, auto_delete=True)
                ch.queue_bind(reply_to, exchange=self.exchange, routing_key=reply_to)
            else:
                reply_to = DIRECT_REPLY_TO
            # consume (no ack) before publishing, on the same channel (direct
            # reply-to requires it)
            ch.basic_consume(reply_to, no_ack=True, callback=self._on_reply)
        except BaseException:
            link.drop()
            raise
        ch.events["basic_return"].add(self._on_return)
        self.reply_to = reply_to
        self.link = link
        if not self._up.ready():
            self._up.send(link)

    def _read_loop(self):
        backoff = 0.1
        while not self._closing:
            link = self.link
            if link is None or not link.alive:
                try:
                    self._open()
                    backoff = 0.1
                except Exception as exc:
                    _log.warning("rpc client cannot connect (%s); retrying", type(exc).__name__)
                    eventlet.sleep(backoff)
                    backoff = min(backoff * 2, _RECONNECT_MAX_SECONDS)
                continue
            try:
                link.tick(self.tick_seconds)
            except Exception as exc:
                if self._closing:
                    break
                self._lost(link, exc)

    def _lost(self, link, exc):
        if link is not self.link:
            return
        _log.warning("rpc client lost its connection (%s)", type(exc).__name__)
        self.link = None
        self._up = Event()
        link.drop()
        self._fail_pending(link.id, None)

    def _fail_pending(self, link_id, exc):
        for corr, p in list(self._pending.items()):
            if link_id is None or p.link_id == link_id:
                self._pending.pop(corr, None)
                p.event.send_exception(exc or ReplyLost(
                    f"{p.service}.{p.method}: the connection broke before its reply came"))

    def _on_reply(self, message):
        p = self._pending.pop(message.properties.get("correlation_id"), None)
        if p is not None:
            p.event.send(message)

    def _on_return(self, exc, exchange, routing_key, message):
        p = self._pending.pop(message.properties.get("correlation_id"), None)
        if p is not None:
            p.event.send_exception(UnknownService(p.service))

    def _wait_up(self, deadline):
        link = self.link
        if link is not None and link.alive:
            return link
        try:
            with eventlet.Timeout(max(0.0, deadline - time.monotonic())):
                self._up.wait()
        except eventlet.Timeout:
            pass
        link = self.link
        if link is None or not link.alive:
            raise BrokerUnavailable("the message broker is not reachable")
        return link

    # calls
    def call_async(self, service, method, args, kwargs, context_data, timeout):
        """Publish one request; answers a ``Reply`` (``.result()`` waits)."""
        deadline = time.monotonic() + timeout
        content_type, encoding, body = kombu.serialization.dumps(
            {"args": args, "kwargs": kwargs}, self.serializer)
        corr = uuid.uuid4().hex
        msg = Message(body, content_type=content_type, content_encoding=encoding,
                      delivery_mode=TRANSIENT, correlation_id=corr,
                      expiration=str(max(1, int(timeout * 1000))),
                      application_headers=headers_of(context_data))
        routing_key = f"{service}.{method}"
        for attempt in (1, 2):
            link = self._wait_up(deadline)
            pending = self._pending[corr] = _Pending(link.id, service, method)
            msg.properties["reply_to"] = self.reply_to  # this connection's way back
            try:
                with link.write:
                    link.channel.basic_publish(msg, exchange=self.exchange,
                                               routing_key=routing_key, mandatory=True)
                break
            except link.errors as exc:
                self._pending.pop(corr, None)
                self._lost(link, exc)
                if attempt == 2:
                    raise BrokerUnavailable("the message broker is not reachable") from exc
        return Reply(self, pending, corr, deadline, timeout)

    def call(self, service, method, args, kwargs, context_data, timeout):
        return self.call_async(service, method, args, kwargs, context_data, timeout).result()

    def decode(self, message):
        return kombu.serialization.loads(message.body, message.properties.get("content_type"),
                                         message.properties.get("content_encoding", "utf-8"),
                                         accept=self.accept)


class Reply:
    """A call on its way: ``result()`` waits until the deadline, then RpcTimeout."""

    def __init__(self, client, pending, corr, deadline, timeout):
        self._client = client
        self._pending = pending
        self._corr = corr
        self._deadline = deadline
        self._timeout = timeout
        self._body = None

    def result(self):
        if self._body is None:
            p = self._pending
            try:
                with eventlet.Timeout(max(0.0, self._deadline - time.monotonic())):
                    message = p.event.wait()
            except eventlet.Timeout:
                self._client._pending.pop(self._corr, None)
                raise RpcTimeout(f"{p.service}.{p.method} gave no reply in {self._timeout}s")
            self._body = self._client.decode(message)
        error = self._body.get("error")
        if error:
            raise deserialize(error)
        return self._body.get("result")


class MethodProxy:
    def __init__(self, client, service, method, context_data, timeout):
        self.client = client
        self.service_name = service
        self.method_name = method
        self._context = context_data
        self.timeout = timeout

    def _context_data(self):
        return self._context() if callable(self._context) else self._context

    def __call__(self, *args, **kwargs):
        return self.call_async(*args, **kwargs).result()

    def call_async(self, *args, **kwargs):
        return self.client.call_async(self.service_name, self.method_name, args, kwargs,
                                      self._context_data(), self.timeout)

    def __repr__(self):
        return f"<proxy method: {self.service_name}.{self.method_name}>"


class ServiceProxy:
    def __init__(self, client, service, context_data, timeout):
        self._client = client
        self.service_name = service
        self._context = context_data
        self.timeout = timeout

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return MethodProxy(self._client, self.service_name, name, self._context, self.timeout)


class ClusterProxy:
    """``proxy.<service>.<method>(...)``: what nameko's ClusterRpcProxy gives."""

    def __init__(self, client, context_data, timeout):
        self._client = client
        self._context = context_data
        self._timeout = timeout

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return ServiceProxy(self._client, name, self._context, self._timeout)


class StandaloneRpc:
    """A client outside any container (CLIs, tests, benchmarks): ``with
    StandaloneRpc(config, context, timeout) as proxy: proxy.appeals.ping()``,
    or ``start()`` / ``stop()``. One connection; its proxy may be shared by
    any number of green threads."""

    def __init__(self, config, context_data=None, timeout=None, owner="standalone"):
        self.client = RpcClient(config, owner=owner)  # owner: names its reply queue
        context = dict(context_data or {})
        # as nameko's standalone proxy: the calls' origin in the call id stack
        context.setdefault("call_id_stack", [f"standalone_rpc_proxy.call.{uuid.uuid4()}"])
        self.proxy = ClusterProxy(self.client, context, timeout)

    def start(self):
        self.client.start()
        return self.proxy

    def stop(self):
        self.client.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class RpcClientExtension(SharedExtension):
    """A container's one ``RpcClient``, shared by all its proxies."""

    def setup(self):
        self.client = RpcClient(self.container.config, spawn=partial(
            self.container.spawn_managed_thread, identifier="leanrpc.client"),
            owner=self.container.service_name)

    def start(self):
        self.client.start(lazy=True)

    def stop(self):
        self.client.stop()

    def kill(self):
        self.client.stop()
