"""The Redis broker: every node publishes to one Redis pub/sub channel and every node's hub
receives from it, its own messages included.

Wire format of one Redis message (compact, and the event's JSON is never re-encoded)::

    Delivery:  version:u8  kind:u8 (1 channel, 2 user, 4 presence)  key_length:u16  key  payload
    Control:   version:u8  kind:u8 (3)                   orjson({"op": ..., "args": ...})

Guarantees:

- *Order.* Messages published by one broker reach every subscriber in the order of the
  ``publish`` calls: one writer task sends them, batched in a pipeline on one connection, and
  Redis relays one connection's publishes in order. The handler is called synchronously by one
  reader task, in the order messages arrive.
- *At most once.* A node that is disconnected from Redis misses what is published meanwhile;
  its reader resubscribes with backoff and goes on. Nothing is retried on the publish
  side, so nothing is delivered twice.
- *Outages are announced.* The ``on_state`` listener given to :meth:`RedisBroker.start` is
  called with False when the subscription is lost and with True once it is back (before any
  message received on the new subscription is handled): the node drops its caches then,
  since it may have missed invalidations. The log gets one warning when an outage starts
  and one line when it ends, not one per failed attempt.
- *The first publish after an outage works.* A publish connection that may be stale (the
  subscription was lost since it was last used, or it sat idle longer than the ping
  interval) is replaced before use, so a node that was idle while Redis restarted does not
  fail its first publish on a dead pooled socket.
- ``publish`` returns once Redis has taken the message, or raises :class:`BrokerError`.
  Driver exceptions never leave this module raw.

The channel is ``<prefix>:<db>:events``: Redis pub/sub ignores database numbers, so the number
is part of the name, and clusters on different databases of one Redis never hear each other.
``prefix`` (default ``hubbub``) comes from the constructor or the URL's ``?prefix=`` query
parameter, e.g. ``redis://10.0.0.5:6379/0?prefix=staging``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import struct
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hubbub.broker.base import BrokerError, Control, Delivery, Handler, Message, StateListener

log = logging.getLogger(__name__)

VERSION = 1
KIND_CHANNEL, KIND_USER, KIND_CONTROL, KIND_PRESENCE = 1, 2, 3, 4
_KINDS = {"channel": KIND_CHANNEL, "user": KIND_USER, "presence": KIND_PRESENCE}
_SCOPES = {KIND_CHANNEL: "channel", KIND_USER: "user", KIND_PRESENCE: "presence"}
_HEAD = struct.Struct("!BB")
_DELIVERY_HEAD = struct.Struct("!BBH")
#: Driver failures that mean "Redis is unreachable or misbehaving" (TimeoutError is an OSError).
_FAILURES = (RedisError, OSError)


def encode(message: Message) -> bytes:
    """One broker message as the bytes published to Redis."""
    if isinstance(message, Delivery):
        key = message.key.encode()
        if len(key) > 0xFFFF:
            raise BrokerError(f"broker key is too long ({len(key)} bytes)")
        return _DELIVERY_HEAD.pack(VERSION, _KINDS[message.scope], len(key)) + key + \
            message.payload
    return _HEAD.pack(VERSION, KIND_CONTROL) + orjson.dumps(
        {"op": message.op, "args": message.args})


def decode(data: bytes) -> Message:
    """The inverse of :func:`encode`; ``ValueError`` for anything else."""
    if len(data) < _HEAD.size:
        raise ValueError("broker message too short")
    version, kind = _HEAD.unpack_from(data)
    if version != VERSION:
        raise ValueError(f"unknown broker message version {version}")
    if kind == KIND_CONTROL:
        body = orjson.loads(data[_HEAD.size:])
        if not isinstance(body, dict) or not isinstance(body.get("op"), str) or not isinstance(
                body.get("args"), dict):
            raise ValueError("malformed control message")
        return Control(body["op"], body["args"])
    scope = _SCOPES.get(kind)
    if scope is None or len(data) < _DELIVERY_HEAD.size:
        raise ValueError(f"unknown broker message kind {kind}")
    key_length = _DELIVERY_HEAD.unpack_from(data)[2]
    start = _DELIVERY_HEAD.size
    end = start + key_length
    if len(data) < end:
        raise ValueError("truncated broker message")
    return Delivery(scope, data[start:end].decode(), data[end:])  # type: ignore[arg-type]


def split_url(url: str) -> tuple[str, str | None]:
    """The Redis URL without Hubbub's own ``prefix`` parameter, and that parameter."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [v for k, v in query if k == "prefix"]
    rest = [(k, v) for k, v in query if k != "prefix"]
    return urlunsplit(parts._replace(query=urlencode(rest))), (prefixes[-1] if prefixes else None)


def _safe(url: str) -> str:
    """The URL for logs: no password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


class RedisBroker:
    """:class:`~hubbub.broker.base.Broker` over Redis pub/sub (redis-py asyncio)."""

    distributed = True

    def __init__(self, url: str, *, prefix: str | None = None, ping_interval: float = 5.0,
                 connect_timeout: float = 5.0, reconnect_delay: tuple[float, float] = (0.05, 5.0),
                 batch_size: int = 512) -> None:
        redis_url, url_prefix = split_url(url)
        self.url = _safe(url)
        #: Names this broker's Redis connections (``CLIENT LIST``): ``hubbub-<node_id>-pub|sub``.
        self.node_id = uuid.uuid4().hex[:12]
        common: dict[str, Any] = {
            "socket_connect_timeout": connect_timeout, "socket_timeout": connect_timeout,
            "socket_keepalive": True,
            # Reconnects are ours (reader) or the caller's (publish): a silent retry could
            # publish a message twice.
            "retry": Retry(NoBackoff(), 0),
        }
        self._pub = Redis.from_url(redis_url, client_name=f"hubbub-{self.node_id}-pub", **common)
        self._sub = Redis.from_url(redis_url, client_name=f"hubbub-{self.node_id}-sub", **common)
        db = self._pub.connection_pool.connection_kwargs.get("db", 0)
        self.channel = f"{prefix or url_prefix or 'hubbub'}:{db}:events"
        self._ping_interval = ping_interval
        self._connect_timeout = connect_timeout
        self._min_delay, self._max_delay = reconnect_delay
        self._batch_size = batch_size
        self._handler: Handler | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._pending: collections.deque[tuple[bytes, asyncio.Future[None]]] = \
            collections.deque()
        self._closed = False
        self._on_state: StateListener | None = None
        self._subscribed = False
        #: An outage was logged and its end is not yet.
        self._outage = False
        #: ``reconnects`` when the publish connection was last known good, and when.
        self._pub_generation = 0
        self._pub_used = 0.0
        #: Times the reader lost its subscription and got it back (for tests and metrics).
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._subscribed and not self._closed

    def _outage_starts(self, what: str, exc: BaseException) -> None:
        if not self._outage:
            self._outage = True
            log.warning("redis broker: %s on %s (%s); events reach this node's connections "
                        "only until Redis is back", what, self.url,
                        exc or exc.__class__.__name__)
        else:
            log.debug("redis broker: %s: %s", what, exc)

    def _notify(self, connected: bool) -> None:
        self._subscribed = connected
        if self._on_state is not None:
            try:
                self._on_state(connected)
            except Exception:
                log.exception("redis broker: the state listener failed")

    # lifecycle -----------------------------------------------------------------------------

    async def start(self, handler: Handler, on_state: StateListener | None = None) -> None:
        """Subscribe; returns once Redis has confirmed the subscription (``BrokerError`` if
        Redis cannot be reached within the connect timeout)."""
        if self._closed:
            raise BrokerError("broker is closed")
        if self._reader is not None:
            raise BrokerError("broker is already started")
        self._handler = handler
        self._on_state = on_state
        try:
            pubsub = await self._subscribe()
        except _FAILURES as exc:
            raise BrokerError(f"cannot subscribe to {self.channel} on {self.url}: {exc}") from exc
        self._subscribed = True
        self._reader = asyncio.create_task(self._read(pubsub), name=f"redis-broker-{self.node_id}")

    async def close(self) -> None:
        """Send what was already handed to ``publish`` (briefly), stop reading, disconnect.
        Idempotent; afterwards ``publish`` drops messages, as the memory broker does."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), self._connect_timeout)
            except TimeoutError:
                await _cancel(self._writer)
        while self._pending:
            _, future = self._pending.popleft()
            if not future.done():
                future.set_exception(BrokerError("broker closed before the message was sent"))
        if self._reader is not None:
            await _cancel(self._reader)
            self._reader = None
        self._handler = None
        for client in (self._sub, self._pub):
            try:
                await client.aclose()
            except _FAILURES as exc:
                log.debug("redis broker: error while disconnecting: %s", exc)

    # publishing ----------------------------------------------------------------------------

    async def publish(self, message: Message) -> None:
        """Queue ``message`` behind earlier ones and wait until Redis has taken it."""
        if self._closed:
            log.debug("redis broker: closed, dropping %r", type(message).__name__)
            return
        data = encode(message)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((data, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        """Send queued messages in order, in pipelined batches, until none is left."""
        try:
            while self._pending:
                batch = [self._pending.popleft()
                         for _ in range(min(self._batch_size, len(self._pending)))]
                failure: BaseException | None = None
                try:
                    await self._refresh_publisher()
                    async with self._pub.pipeline(transaction=False) as pipe:
                        for data, _ in batch:
                            pipe.publish(self.channel, data)
                        await pipe.execute()
                    self._pub_used = asyncio.get_running_loop().time()
                    if self._outage and self._subscribed:
                        self._outage = False
                        log.warning("redis broker: publishing to %s works again", self.url)
                except _FAILURES as exc:
                    self._outage_starts("publishing failed", exc)
                    self._pub_generation = -1  # reconnect before the next attempt
                    failure = exc
                except BaseException as exc:  # cancelled by close(): nobody may wait forever
                    failure = exc
                    raise
                finally:
                    for _, future in batch:
                        if future.done():
                            continue
                        if failure is None:
                            future.set_result(None)
                        else:
                            error = BrokerError(
                                f"publish failed: {failure.__class__.__name__}: {failure}")
                            error.__cause__ = failure
                            future.set_exception(error)
        finally:
            self._writer = None

    async def _refresh_publisher(self) -> None:
        """Replace the pooled publish connection if it may have died unnoticed: Redis
        restarted since it was used (the reader reconnected), or it sat idle long enough
        for a restart to go unnoticed. Nothing was sent on it yet, so nothing is doubled."""
        now = asyncio.get_running_loop().time()
        if self._pub_generation != self.reconnects or now - self._pub_used > self._ping_interval:
            await self._pub.connection_pool.disconnect()
            self._pub_generation = self.reconnects

    # receiving -----------------------------------------------------------------------------

    async def _subscribe(self) -> PubSub:
        pubsub = self._sub.pubsub()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await pubsub.subscribe(self.channel)
                while True:
                    reply = await pubsub.get_message(timeout=self._connect_timeout)
                    if reply is not None and reply["type"] == "subscribe":
                        return pubsub
        except BaseException:
            await _close_pubsub(pubsub)
            raise

    async def _read(self, pubsub: PubSub) -> None:
        delay = self._min_delay
        while True:
            try:
                await self._pump(pubsub)
            except _FAILURES as exc:
                self._outage_starts(f"lost the subscription to {self.channel}", exc)
            except Exception:
                log.exception("redis broker: the reader failed; reconnecting")
            finally:
                await _close_pubsub(pubsub)
            self._notify(False)
            while True:
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self._max_delay)
                try:
                    pubsub = await self._subscribe()
                    break
                except _FAILURES as exc:
                    log.debug("redis broker: cannot resubscribe to %s on %s (%s); retrying",
                              self.channel, self.url, exc or exc.__class__.__name__)
            self.reconnects += 1
            delay = self._min_delay
            self._notify(True)
            self._outage = False
            log.warning("redis broker: Redis is back: subscribed to %s again (messages "
                        "published meanwhile were missed; caches dropped)", self.channel)

    async def _pump(self, pubsub: PubSub) -> None:
        """Hand messages to the handler until the connection fails. A connection that stays
        silent is pinged; one that does not answer within three intervals is given up."""
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        while True:
            reply = await pubsub.get_message(timeout=self._ping_interval)
            now = loop.time()
            if reply is None:
                if now - last_heard > 3 * self._ping_interval:
                    raise ConnectionError("redis did not answer pings")
                await pubsub.ping()
                continue
            last_heard = now
            kind = reply["type"]
            if kind == "message":
                self._dispatch(reply["data"])
            elif kind == "unsubscribe":
                raise ConnectionError("unsubscribed by the server")

    def _dispatch(self, data: bytes) -> None:
        try:
            message = decode(data)
        except ValueError as exc:
            log.warning("redis broker: dropping a message that is not Hubbub's (%s)", exc)
            return
        handler = self._handler
        if handler is None:
            return
        try:
            handler(message)
        except Exception:
            # One bad message must not stop delivery of the others.
            log.exception("redis broker: the handler failed on a %s", type(message).__name__)


async def _close_pubsub(pubsub: PubSub) -> None:
    try:
        await pubsub.aclose()
    except _FAILURES as exc:
        log.debug("redis broker: error while closing a subscription: %s", exc)


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it, without swallowing a cancellation of our own."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception:
        log.exception("redis broker: a background task failed")
