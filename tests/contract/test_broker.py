"""The broker contract, run against every backend: memory (one process) and Redis (many).

Each test takes ``make_broker``: a factory of brokers that share one bus (for Redis: one
channel of the real Redis on 127.0.0.1:6379, with a prefix of the test's own). A few tests at
the end are Redis's alone: reconnection, foreign messages, the wire format, failures.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import orjson
import pytest
import redis.asyncio as redis_asyncio

from hubbub.broker import (
    Broker,
    BrokerError,
    Control,
    Delivery,
    MemoryBroker,
    Message,
    create_broker,
)
from hubbub.broker.redis import RedisBroker

REDIS_URL = "redis://127.0.0.1:6379/0"
TIMEOUT = 5.0


class Inbox:
    """What one broker handed its handler, in order; ``wait`` blocks until enough arrived."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Event()

    def __call__(self, message: Message) -> None:
        self.messages.append(message)
        self._changed.set()

    async def wait(self, count: int, timeout: float = TIMEOUT) -> list[Message]:
        async def until() -> None:
            while len(self.messages) < count:
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            raise AssertionError(f"got {len(self.messages)} of {count} messages in {timeout}s: "
                                 f"{self.messages[-3:]}") from None
        return self.messages

    async def wait_for(self, predicate: Callable[[Message], bool],
                       timeout: float = TIMEOUT) -> Message:
        async def until() -> Message:
            seen = 0
            while True:
                for message in self.messages[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.messages)
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            raise AssertionError(f"no matching message in {timeout}s") from None


Factory = Callable[[], Broker]


@pytest.fixture(params=["memory", "redis"])
async def make_broker(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    """Brokers of one backend on one bus of the test's own; all closed at the end."""
    made: list[Broker] = []
    prefix = f"hubbub-test-{uuid.uuid4().hex[:10]}"

    def factory() -> Broker:
        broker: Broker = (MemoryBroker() if request.param == "memory"
                          else RedisBroker(REDIS_URL, prefix=prefix))
        made.append(broker)
        return broker

    yield factory
    for broker in made:
        await broker.close()


async def started(factory: Factory) -> tuple[Broker, Inbox]:
    broker, inbox = factory(), Inbox()
    await broker.start(inbox)
    return broker, inbox


def event(i: int) -> bytes:
    return orjson.dumps({"type": "tick", "i": i, "cid": "messaging:general"})


# the contract -------------------------------------------------------------------------------


async def test_messages_from_one_publisher_arrive_in_publish_order(make_broker: Factory) -> None:
    broker, inbox = await started(make_broker)
    # Sequential publishes, then a burst of concurrent ones (ordered by call), then a control.
    for i in range(50):
        await broker.publish(Delivery("channel", "messaging:general", event(i)))
    await asyncio.gather(*[broker.publish(Delivery("channel", "messaging:general", event(i)))
                           for i in range(50, 500)])
    await broker.publish(Control("watch", {"n": 500}))

    got = await inbox.wait(501)
    assert [orjson.loads(m.payload)["i"] for m in got[:500]
            if isinstance(m, Delivery)] == list(range(500))
    assert got[500] == Control("watch", {"n": 500})
    assert len(got) == 501


@pytest.mark.parametrize("payload", [
    b"",
    b'{"type":"x","text":"\\u00e9 \xc3\xa9 \xf0\x9f\x90\x9d","n":1.5e300,"nested":{"a":[null]}}',
    b"\x00\x01\xff not even JSON: the broker never looks inside",
    orjson.dumps({"type": "big", "blob": "x" * 200_000}),
], ids=["empty", "unicode", "binary", "200k"])
async def test_delivery_payload_arrives_byte_identical(make_broker: Factory,
                                                       payload: bytes) -> None:
    broker, inbox = await started(make_broker)
    sent = [Delivery("channel", "messaging:caf\u00e9-\U0001f41d", payload),
            Delivery("user", "bob@example.com", payload)]
    for message in sent:
        await broker.publish(message)

    got = await inbox.wait(2)
    assert got == sent
    for received in got:
        assert isinstance(received, Delivery) and type(received.payload) is bytes
        assert received.payload == payload


async def test_control_round_trip(make_broker: Factory) -> None:
    broker, inbox = await started(make_broker)
    sent = [
        Control("watch", {"connection_id": "c-1", "user_id": "alice", "cid": "messaging:x"}),
        Control("disconnect_user", {"user_id": "\u00e9ve", "code": 4000, "reason": "deleted"}),
        Control("future-op", {"nested": {"list": [1, 2.5, None, True, "s"]}, "empty": {}}),
        Control("no-args", {}),
    ]
    for message in sent:
        await broker.publish(message)
    assert await inbox.wait(4) == sent


async def test_every_broker_on_the_bus_receives_each_publishers_messages_in_order(
        make_broker: Factory) -> None:
    one, inbox_one = await started(make_broker)
    two, inbox_two = await started(make_broker)

    await asyncio.gather(
        *[one.publish(Delivery("channel", "a", event(i))) for i in range(100)],
        *[two.publish(Delivery("user", "b", event(i))) for i in range(100)])

    if one.distributed:
        # One Redis channel: both nodes hear both publishers.
        for inbox in (inbox_one, inbox_two):
            got = await inbox.wait(200)
            for key in ("a", "b"):
                assert [orjson.loads(m.payload)["i"] for m in got
                        if isinstance(m, Delivery) and m.key == key] == list(range(100))
        assert len(inbox_one.messages) == len(inbox_two.messages) == 200
    else:
        # In-process brokers are islands: each hears itself only.
        assert await inbox_one.wait(100) == [Delivery("channel", "a", event(i)) for i in range(100)]
        assert await inbox_two.wait(100) == [Delivery("user", "b", event(i)) for i in range(100)]


async def test_a_message_published_right_after_start_is_received(make_broker: Factory) -> None:
    """``start`` returns once subscribed: nothing published after it is missed."""
    publisher, _ = await started(make_broker)
    for i in range(5):
        late, inbox = await started(make_broker)
        # Another node's message (a memory broker only ever hears itself).
        hello = Control("hello", {"i": i})
        await (publisher if late.distributed else late).publish(hello)
        assert await inbox.wait_for(hello.__eq__)
        await late.close()


async def test_close_is_clean_and_idempotent(make_broker: Factory) -> None:
    broker, inbox = await started(make_broker)
    listener, listener_inbox = await started(make_broker)
    await broker.publish(Control("before", {}))
    await inbox.wait(1)
    tasks_before = {t for t in asyncio.all_tasks() if not t.done()}

    await broker.close()
    await broker.close()

    # Publishing after close neither raises nor reaches anyone.
    await broker.publish(Control("after", {}))
    await listener.publish(Control("marker", {}))
    await listener_inbox.wait_for(lambda m: m == Control("marker", {}))
    assert Control("after", {}) not in listener_inbox.messages
    assert inbox.messages == [Control("before", {})]
    # Its background tasks are gone.
    assert not {t for t in asyncio.all_tasks() if not t.done()} - tasks_before
    lingering = [t for t in tasks_before if not t.done() and "redis-broker" in t.get_name()
                 and getattr(broker, "node_id", "?") in t.get_name()]
    assert lingering == []


async def test_redis_close_disconnects_from_redis(raw_redis: redis_asyncio.Redis) -> None:
    broker = RedisBroker(REDIS_URL, prefix=f"hubbub-test-{uuid.uuid4().hex[:10]}")
    await broker.start(Inbox())
    await broker.publish(Control("x", {}))

    async def names() -> set[str]:
        return {c["name"] for c in await raw_redis.client_list()
                if c.get("name", "").startswith(f"hubbub-{broker.node_id}-")}

    assert await names() == {f"hubbub-{broker.node_id}-pub", f"hubbub-{broker.node_id}-sub"}
    await broker.close()

    async def until_gone() -> None:  # the server notices a closed socket a moment later
        while await names():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(until_gone(), TIMEOUT)


async def test_close_with_publishes_in_flight_leaves_none_hanging(make_broker: Factory) -> None:
    broker, _ = await started(make_broker)
    in_flight = [asyncio.ensure_future(broker.publish(Delivery("channel", "c", event(i))))
                 for i in range(200)]
    await asyncio.sleep(0)  # let them start
    await asyncio.wait_for(broker.close(), TIMEOUT)
    done, pending = await asyncio.wait(in_flight, timeout=TIMEOUT)
    assert not pending
    for task in done:
        assert task.exception() is None or isinstance(task.exception(), BrokerError)


async def test_closing_a_broker_that_never_started(make_broker: Factory) -> None:
    broker = make_broker()
    await broker.close()
    await broker.close()


def test_create_broker_picks_the_backend() -> None:
    assert isinstance(create_broker("memory"), MemoryBroker)
    assert isinstance(create_broker(""), MemoryBroker)
    redis_broker = create_broker("redis://127.0.0.1:6379/3?prefix=blue")
    assert isinstance(redis_broker, RedisBroker) and redis_broker.distributed
    assert redis_broker.channel == "blue:3:events"
    assert create_broker("redis://127.0.0.1:6379/0").channel == "hubbub:0:events"  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        create_broker("kafka://nope")


# Redis's own ---------------------------------------------------------------------------------


@pytest.fixture
async def raw_redis() -> AsyncIterator[redis_asyncio.Redis]:
    client = redis_asyncio.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def _kill_connections(raw: redis_asyncio.Redis, node_id: str) -> int:
    killed = 0
    for client in await raw.client_list():
        if client.get("name", "").startswith(f"hubbub-{node_id}-"):
            killed += await raw.execute_command("CLIENT", "KILL", "ID", client["id"])
    return killed


async def test_redis_publishes_a_compact_header_and_the_payload_verbatim(
        raw_redis: redis_asyncio.Redis) -> None:
    broker = RedisBroker(REDIS_URL, prefix=f"hubbub-test-{uuid.uuid4().hex[:10]}")
    pubsub = raw_redis.pubsub()
    await pubsub.subscribe(broker.channel)
    assert (await pubsub.get_message(timeout=TIMEOUT))["type"] == "subscribe"
    try:
        payload = orjson.dumps({"type": "x", "text": "h\u00e9llo"})
        await broker.publish(Delivery("channel", "messaging:general", payload))
        await broker.publish(Control("watch", {"cid": "messaging:general"}))
        raw = [await pubsub.get_message(timeout=TIMEOUT) for _ in range(2)]
    finally:
        await pubsub.aclose()
        await broker.close()
    delivery, control = (r["data"] for r in raw if r is not None)
    key = b"messaging:general"
    assert delivery == bytes([1, 1, 0, len(key)]) + key + payload
    assert control[:2] == bytes([1, 3])
    assert orjson.loads(control[2:]) == {"op": "watch", "args": {"cid": "messaging:general"}}


async def test_redis_ignores_foreign_messages_and_a_failing_handler(
        raw_redis: redis_asyncio.Redis) -> None:
    broker = RedisBroker(REDIS_URL, prefix=f"hubbub-test-{uuid.uuid4().hex[:10]}")
    inbox = Inbox()

    def handler(message: Message) -> None:
        inbox(message)
        if message == Control("boom", {}):
            raise RuntimeError("a bug in the hub")

    await broker.start(handler)
    try:
        for junk in (b"", b"\x01", b"\x09\x01hello", b"\x01\x01\x00\x10short",
                     b"\x01\x03not json", b"\x01\x03[1,2]"):
            await raw_redis.publish(broker.channel, junk)
        await broker.publish(Control("boom", {}))
        await broker.publish(Control("after", {}))
        assert await inbox.wait(2) == [Control("boom", {}), Control("after", {})]
    finally:
        await broker.close()


async def test_redis_reconnects_after_losing_its_connections(
        raw_redis: redis_asyncio.Redis) -> None:
    prefix = f"hubbub-test-{uuid.uuid4().hex[:10]}"
    broker = RedisBroker(REDIS_URL, prefix=prefix, reconnect_delay=(0.02, 0.2))
    other = RedisBroker(REDIS_URL, prefix=prefix)
    inbox, other_inbox = Inbox(), Inbox()
    await broker.start(inbox)
    await other.start(other_inbox)
    try:
        await broker.publish(Control("warm-up", {}))  # opens the publishing connection too
        await inbox.wait(1)
        assert await _kill_connections(raw_redis, broker.node_id) == 2

        # The subscription comes back by itself; publishing works again. Probes until then
        # (what is published while a node is disconnected is missed: at most once).
        async def probe_until_heard() -> None:
            for i in range(1000):
                try:
                    await other.publish(Control("probe", {"i": i}))
                    await broker.publish(Control("own-probe", {"i": i}))
                except BrokerError:
                    pass
                if any(m.op == "own-probe" for m in inbox.messages if isinstance(m, Control)) \
                        and any(m.op == "probe" for m in inbox.messages
                                if isinstance(m, Control)):
                    return
                await asyncio.sleep(0.02)

        await asyncio.wait_for(probe_until_heard(), 10)
        assert broker.reconnects == 1
        # And the order guarantee holds after the reconnect.
        before = len(inbox.messages)
        for i in range(50):
            await broker.publish(Delivery("user", "u", event(i)))
        got = (await inbox.wait(before + 50))[before:]
        assert [orjson.loads(m.payload)["i"] for m in got if isinstance(m, Delivery)] == \
            list(range(50))
    finally:
        await broker.close()
        await other.close()


async def test_redis_failures_surface_as_broker_errors() -> None:
    # Nothing listens on port 1: connection refused, at once.
    broker = RedisBroker("redis://127.0.0.1:1/0", connect_timeout=1.0)
    with pytest.raises(BrokerError) as failed:
        await broker.start(Inbox())
    assert "127.0.0.1:1" in str(failed.value)
    with pytest.raises(BrokerError):
        await broker.publish(Delivery("channel", "messaging:x", b"{}"))
    await broker.close()


def test_redis_url_password_never_reaches_logs_or_errors() -> None:
    broker = RedisBroker("redis://hubbub:s3cret@127.0.0.1:6379/2?prefix=p")
    assert "s3cret" not in broker.url and broker.channel == "p:2:events"


async def test_handler_receives_plain_types(make_broker: Factory) -> None:
    """Scope strings, str keys, dict args: what the hub expects, whatever the transport."""
    broker, inbox = await started(make_broker)
    await broker.publish(Delivery("user", "alice", b"{}"))
    await broker.publish(Control("watch", {"cid": "messaging:x"}))
    delivery, control = await inbox.wait(2)
    assert isinstance(delivery, Delivery) and delivery.scope == "user"
    assert type(delivery.key) is str
    assert isinstance(control, Control) and type(control.args) is dict

