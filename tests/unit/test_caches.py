"""The cache module without I/O: bounds, expiry, invalidation messages, broker state."""

from __future__ import annotations

import time

from hubbub.broker import Control, Message
from hubbub.caches import INVALIDATE, Caches, Lru


class RecordingBroker:
    distributed = True
    connected = True

    def __init__(self) -> None:
        self.published: list[Message] = []

    async def start(self, handler: object, on_state: object = None) -> None: ...

    async def publish(self, message: Message) -> None:
        self.published.append(message)

    async def close(self) -> None: ...


def test_lru_is_bounded_and_keeps_the_recently_used() -> None:
    lru: Lru[str, int] = Lru(size=2, ttl=60)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == (True, 1)  # a is now the most recent
    lru.put("c", 3)
    assert lru.get("b") == (False, None)
    assert lru.get("a") == (True, 1) and lru.get("c") == (True, 3)


def test_lru_entries_expire() -> None:
    lru: Lru[str, int] = Lru(size=10, ttl=0.0)
    lru.put("a", 1)
    time.sleep(0.001)
    assert lru.get("a") == (False, None)
    assert len(lru) == 0


async def test_invalidate_drops_here_and_tells_the_others() -> None:
    broker = RecordingBroker()
    caches = Caches(broker, size=10, ttl=60)  # type: ignore[arg-type]
    caches.channels.put("messaging:x", "channel")
    caches.members.put("messaging:x", {"alice": "member"})
    await caches.invalidate("channels", ["messaging:x"])
    assert caches.channels.get("messaging:x") == (False, None)
    assert caches.members.get("messaging:x") == (False, None)
    assert broker.published == [Control(INVALIDATE, {
        "kind": "channels", "keys": ["messaging:x"], "origin": caches.node})]


def test_another_nodes_invalidation_applies_and_our_own_is_skipped() -> None:
    caches = Caches(RecordingBroker(), size=10, ttl=60)  # type: ignore[arg-type]
    caches.users.put("alice", "user")
    caches.handle({"kind": "users", "keys": ["alice"], "origin": caches.node})
    assert caches.users.get("alice") == (True, "user")
    caches.handle({"kind": "users", "keys": ["alice"], "origin": "another-node"})
    assert caches.users.get("alice") == (False, None)
    caches.handle({"kind": "settings", "keys": None, "origin": "another-node"})
    assert caches.settings_due()


def test_a_value_loaded_across_an_invalidation_is_not_kept() -> None:
    caches = Caches(RecordingBroker(), size=10, ttl=60)  # type: ignore[arg-type]
    users, channels = caches.epoch("users"), caches.epoch("channels")
    caches.handle({"kind": "users", "keys": ["bob"], "origin": "another-node"})
    assert not caches.keeps("users", users)
    assert caches.keeps("users", caches.epoch("users"))
    assert caches.keeps("channels", channels)  # another family: unaffected
    caches.handle({"kind": "members", "keys": ["messaging:x"], "origin": "another-node"})
    assert not caches.keeps("channels", channels)


def test_losing_the_broker_drops_everything_and_stops_trusting() -> None:
    caches = Caches(RecordingBroker(), size=10, ttl=60)  # type: ignore[arg-type]
    caches.users.put("alice", "user")
    caches.settings_loaded = time.monotonic()
    caches.settings_stale = False
    caches.broker_state(False)
    assert caches.users.get("alice") == (False, None)
    assert not caches.usable() and caches.settings_due()
    caches.broker_state(True)
    assert caches.usable()
