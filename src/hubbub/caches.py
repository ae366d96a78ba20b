"""State kept in memory for speed, and kept the same on every process.

Every request reads the app settings, its channel type, its acting user, and (on the event
path) its channel and the sender's membership. All of these are served from memory here, in
front of storage. One mechanism serves every kind:

- *Write-through.* A process that writes updates or drops its own entry before the write's
  API call answers, so it never serves a stale value after its own write.
- *Invalidation across processes.* The writer then publishes one ``invalidate`` control
  message (``{"kind": ..., "keys": [...] | None, "origin": node}``) through the broker and
  waits until the broker has taken it, *before the API answers*. Every other process drops
  the entries named (synchronously, in the broker's reader, so before it reads anything
  published after it). ``keys: None`` drops the whole kind.
- *Missed invalidations.* While the broker's subscription is down a process cannot hear
  invalidations: it stops trusting its caches (reads go to storage and nothing is kept) until
  the subscription is back, and then drops everything it held (:meth:`Caches.broker_state`).
  Writes made meanwhile stand without an invalidation message: every process that could not
  hear it reads through until it reconnects, and then drops its caches anyway.
- *Bounded staleness.* Entries also expire after ``ttl`` seconds, which bounds how stale an
  entry can be if an invalidation is ever lost some other way (a partition of one node).

Kinds: ``users`` (by id), ``channels`` (by cid: the channel and every membership in it),
``members`` (by cid: a channel's memberships, one by one and as its member list), ``settings`` (the app, channel types and roles, reloaded whole).
Verified tokens are cached too (:attr:`Caches.tokens`); they need no invalidation (a token's
signature and times never change, and revocation is checked on every request against the
cached settings and user, which are invalidated).

Callers always get copies and may mutate them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from typing import Any, Generic, TypeVar

from hubbub.broker import Broker, BrokerError, Control

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

#: The control message every process handles.
INVALIDATE = "invalidate"
KINDS = ("users", "channels", "members", "settings")


class Lru(Generic[K, V]):
    """A bounded map with a time to live: the least recently used entry goes first."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> tuple[bool, V | None]:
        """``(True, value)`` on a hit, ``(False, None)`` on a miss or an expired entry."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if entry[0] <= time.monotonic():
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class Caches:
    """Every cache of one process, and their invalidation across processes.

    ``trusted`` is False while the broker cannot tell this process about other processes'
    writes; readers must then read through (see :meth:`usable`).
    """

    def __init__(self, broker: Broker, *, size: int = 50_000, ttl: float = 30.0) -> None:
        self.broker = broker
        self.node = uuid.uuid4().hex[:12]
        self.ttl = ttl
        #: user id -> User
        self.users: Lru[str, Any] = Lru(size, ttl)
        #: cid -> Channel, or None for "no such channel"
        self.channels: Lru[str, Any] = Lru(size, ttl)
        #: cid -> {user id: Member or None for "not a member"}
        self.members: Lru[str, dict[str, Any]] = Lru(size, ttl)
        #: cid -> every Member of the channel (the state a watch answers with)
        self.member_lists: Lru[str, list[Any]] = Lru(max(1, size // 10), ttl)
        #: token string -> verified Principal (revocation is checked per request)
        self.tokens: Lru[str, Any] = Lru(size, ttl * 20)
        self.trusted = True
        #: Per family of kinds, bumped by every invalidation of it: a value loaded across one
        #: may be stale, and is not kept (:meth:`keeps`).
        self._epochs = {"users": 0, "channels": 0}
        #: The app settings, channel types and roles must be reloaded before the next request.
        self.settings_stale = False
        #: monotonic time of the last settings load (they are reloaded past ``ttl`` too).
        self.settings_loaded = 0.0

    def usable(self) -> bool:
        return self.trusted

    def epoch(self, family: str) -> int:
        """``users`` or ``channels`` (channels and memberships): take it before a load."""
        return self._epochs[family]

    def keeps(self, family: str, epoch: int) -> bool:
        """May a value of ``family`` whose load started at ``epoch`` be cached? Not if an
        invalidation of that family arrived meanwhile (it may concern that very value)."""
        return self.trusted and self._epochs[family] == epoch

    def settings_due(self) -> bool:
        return (self.settings_stale or not self.trusted
                or time.monotonic() - self.settings_loaded > self.ttl)

    # invalidation -------------------------------------------------------------------------

    def forget(self, kind: str, keys: list[str] | None) -> None:
        """Drop entries of ``kind`` in this process only (``None``: all of them)."""
        family = "users" if kind == "users" else "channels"
        self._epochs[family] += 1
        if kind == "settings":
            self.settings_stale = True
            return
        if kind == "users":
            lru: Lru[str, Any] = self.users
        elif kind in ("channels", "members"):
            # Either drops a channel's memberships, both as point reads and as its list.
            for per_channel in (self.members, self.member_lists):
                if keys is None:
                    per_channel.clear()
                else:
                    for key in keys:
                        per_channel.forget(key)
            if kind == "members":
                return
            lru = self.channels
        else:
            log.warning("unknown cache kind %r", kind)
            return
        if keys is None:
            lru.clear()
        else:
            for key in keys:
                lru.forget(key)

    async def invalidate(self, kind: str, keys: list[str] | None) -> None:
        """Drop entries here, then on every other process: returns once the broker has taken
        the message (so the caller may answer).

        During a broker outage (this node's subscription is down) the write stands and this
        returns: every node that cannot hear the broker trusts no cache meanwhile and drops
        them all when it hears it again. ``BrokerError`` if the broker refused the message
        while it seemed up (the caller answers 503; the write may be retried)."""
        self.forget(kind, keys)
        if self.broker.distributed and (keys is None or keys):
            try:
                await self.broker.publish(Control(INVALIDATE, {
                    "kind": kind, "keys": keys, "origin": self.node}))
            except BrokerError:
                if self.broker.connected:
                    raise
                log.debug("broker down: %s invalidation left to the reconnect", kind)

    def handle(self, args: dict[str, Any]) -> None:
        """The broker's ``invalidate`` handler (another process wrote)."""
        if args.get("origin") == self.node:
            return  # our own write: already applied
        keys = args.get("keys")
        self.forget(str(args.get("kind")),
                    None if keys is None else [str(k) for k in keys])

    def drop_all(self) -> None:
        for family in self._epochs:
            self._epochs[family] += 1
        self.users.clear()
        self.channels.clear()
        self.members.clear()
        self.member_lists.clear()
        self.settings_stale = True

    def broker_state(self, connected: bool) -> None:
        """The broker lost (False) or regained (True) its subscription. Either way, whatever
        is cached may have missed an invalidation: drop it all. While disconnected, nothing
        is trusted; once reconnected, entries loaded from now on are kept again."""
        self.trusted = connected
        self.drop_all()
