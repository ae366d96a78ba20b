"""This node's connections: who watches which channel, which connections each user has.

The hub is the only thing that writes events to sockets. It receives every message from the
broker and writes it to the connections concerned.

Fan-out cost: the server's WebSocket frames are unmasked, so the frame (header + JSON) is built
once per event and the same bytes go to every watcher. Nothing awaits a recipient.

Coalescing: frames are not written at once but queued per connection, and one flush scheduled
with ``loop.call_soon`` (at most one pending at a time) writes each connection's queued frames
with a single ``transport.write``, in the order they were queued. The kernel's cost per write
bounds fan-out, so under load (several events for one socket within one loop iteration) this
divides the writes; on an idle server the flush runs on the next loop iteration, so it adds no
latency worth the name.

Guarantees: per connection, frames leave in the order :meth:`Hub.write_many` was called for
them, each whole (a frame is never split across writes of other frames). Each connection's
pending output is bounded: a client whose kernel and transport buffers hold more than
``write_limit`` bytes when a flush reaches it has fallen behind, and it is dropped (abort, so its
SDK reconnects) with its queued frames discarded, rather than being allowed to grow memory or
slow anyone else.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hubbub.broker.base import Control, Delivery, Message

log = logging.getLogger(__name__)

#: A tap: called with (scope, key, payload) for each delivery it listens to.
Tap = Callable[[str, str, bytes], None]

#: What an idle connection's sets hold until it watches or subscribes to something: one shared
#: empty set instead of two empty ``set`` objects (216 bytes each) per connection.
NOTHING: frozenset[str] = frozenset()


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final WebSocket text frame (RFC 6455 section 5.2) carrying ``payload``."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


@dataclass(eq=False, slots=True)
class Connection:
    """One WebSocket of one user. ``transport`` is the socket's asyncio transport."""

    id: str
    user_id: str
    transport: asyncio.Transport
    #: Called once when the hub drops the connection (slow consumer or shutdown).
    on_drop: Callable[[int, str], None]
    #: Anonymous connections have a made-up user id; anonymous REST calls may watch with them
    #: only from the client address that opened them (``address``).
    anonymous: bool = False
    #: The ``iat`` of the token the connection was opened with (None: the token had none), to
    #: close it when a revocation covers that token.
    issued_at: float | None = None
    #: The client address that opened the connection.
    address: str | None = None
    #: Channels it watches (the hub's to change: it replaces :data:`NOTHING` with a set).
    watching: set[str] | frozenset[str] = NOTHING
    #: Users whose presence changes this connection asked for (``presence: true``).
    presence_of: set[str] | frozenset[str] = NOTHING
    dropped: bool = False
    #: False until the handshake frame is written: nothing may precede it on the socket.
    greeted: bool = True
    #: Which of the hub's health-check slots holds it (see ``Hub.health_slots``).
    health_slot: int = 0
    #: Frames queued by the hub and not yet flushed (see the module docstring): None when
    #: nothing is queued, the frame itself when one is, a list from the second on. One event
    #: to many watchers thus allocates nothing per watcher (no list for the collector to
    #: count, which would trigger collections during a fan-out).
    pending: bytes | list[bytes] | None = None

    def write(self, data: bytes, limit: int) -> bool:
        """Write ``data`` (whole frames) now, without waiting. False when it is not greeted yet
        or closing, and False (and the connection dropped) when its buffers already hold more
        than ``limit`` bytes."""
        if self.dropped or not self.greeted:
            return False
        transport = self.transport
        if transport.is_closing():
            return False
        if transport.get_write_buffer_size() > limit:
            self.drop(1013, "client is too slow to keep up with its events")
            return False
        transport.write(data)
        return True

    def drop(self, code: int, reason: str) -> None:
        if not self.dropped:
            self.dropped = True
            self.pending = None
            self.on_drop(code, reason)


class Hub:
    """Connections of this process, indexed by id, by user and by watched channel."""

    def __init__(self, *, write_limit: int, health_slots: int = 1) -> None:
        self.write_limit = write_limit
        self.connections: dict[str, Connection] = {}
        #: Connections dealt round-robin into slots, so that periodic work over all of them
        #: (health checks) can be done one slot at a time instead of in one loop-blocking pass.
        self.health_slots: list[dict[str, Connection]] = [
            {} for _ in range(max(1, health_slots))]
        self._next_health_slot = 0
        #: Connections with queued frames, in the order they got their first one.
        self._dirty: list[Connection] = []
        self._flush_scheduled = False
        self.by_user: dict[str, dict[str, Connection]] = {}
        self.watchers: dict[str, dict[str, Connection]] = {}
        #: user id -> the connections subscribed to that user's presence
        self.presence_subs: dict[str, dict[str, Connection]] = {}
        #: Handlers of control messages that concern more than connections (e.g. caches).
        self.control_handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        #: Extra listeners (the dashboard's live view) of one channel's (``("channel", cid)``)
        #: or one user's (``("user", user_id)``: its user events and the events of the channels
        #: its connections here watch) deliveries. Called synchronously; they must not block.
        self.taps: dict[tuple[str, str], set[Tap]] = {}
        #: Deliveries handled so far (every node hears every delivery: a cluster-wide count).
        self.deliveries = 0
        #: Connection slots held per key (a user id, or ``ANONYMOUS_SLOT``): connections open
        #: and connections still being set up. See :meth:`reserve`.
        self.slots: dict[str, int] = {}

    # limits --------------------------------------------------------------------------------

    def reserve(self, key: str, limit: int) -> bool:
        """Take one of ``limit`` connection slots of ``key``; False when all are taken.

        Synchronous, so a caller that reserves before its first await cannot be overtaken by
        a concurrent connect: N sockets opened at once get exactly ``limit`` slots. Every
        successful reserve must be matched by one :meth:`free`, on every exit path."""
        held = self.slots.get(key, 0)
        if held >= limit:
            return False
        self.slots[key] = held + 1
        return True

    def free(self, key: str) -> None:
        held = self.slots.get(key, 0) - 1
        if held > 0:
            self.slots[key] = held
        else:
            self.slots.pop(key, None)

    # registry ------------------------------------------------------------------------------

    def add(self, conn: Connection) -> None:
        self.connections[conn.id] = conn
        self.by_user.setdefault(conn.user_id, {})[conn.id] = conn
        conn.health_slot = self._next_health_slot
        self.health_slots[conn.health_slot][conn.id] = conn
        self._next_health_slot = (self._next_health_slot + 1) % len(self.health_slots)

    def remove(self, conn: Connection) -> list[str]:
        """Forget ``conn``; return the channels it was watching."""
        self.connections.pop(conn.id, None)
        self.health_slots[conn.health_slot].pop(conn.id, None)
        user_conns = self.by_user.get(conn.user_id)
        if user_conns is not None:
            user_conns.pop(conn.id, None)
            if not user_conns:
                del self.by_user[conn.user_id]
        watched = list(conn.watching)
        for cid in watched:
            self._unwatch(conn, cid)
        for user_id in conn.presence_of:
            subs = self.presence_subs.get(user_id)
            if subs is not None:
                subs.pop(conn.id, None)
                if not subs:
                    del self.presence_subs[user_id]
        conn.presence_of = NOTHING
        return watched

    def get(self, connection_id: str) -> Connection | None:
        return self.connections.get(connection_id)

    def is_online(self, user_id: str) -> bool:
        return user_id in self.by_user

    def user_connection_count(self, user_id: str) -> int:
        return len(self.by_user.get(user_id, ()))

    # watching ------------------------------------------------------------------------------

    def watch(self, conn: Connection, cid: str) -> bool:
        """Subscribe; True if it was not watching already."""
        if cid in conn.watching:
            return False
        if isinstance(conn.watching, set):
            conn.watching.add(cid)
        else:
            conn.watching = {cid}
        self.watchers.setdefault(cid, {})[conn.id] = conn
        return True

    def unwatch(self, conn: Connection, cid: str) -> bool:
        if cid not in conn.watching:
            return False
        self._unwatch(conn, cid)
        return True

    def _unwatch(self, conn: Connection, cid: str) -> None:
        if isinstance(conn.watching, set):
            conn.watching.discard(cid)
        watchers = self.watchers.get(cid)
        if watchers is not None:
            watchers.pop(conn.id, None)
            if not watchers:
                del self.watchers[cid]

    def watcher_count(self, cid: str) -> int:
        return len(self.watchers.get(cid, ()))

    def subscribe_presence(self, conn: Connection, user_ids: Iterable[str], limit: int) -> None:
        """Send ``conn`` the presence changes of ``user_ids`` (at most ``limit`` users)."""
        for user_id in user_ids:
            if len(conn.presence_of) >= limit:
                break
            if isinstance(conn.presence_of, set):
                conn.presence_of.add(user_id)
            else:
                conn.presence_of = {user_id}
            self.presence_subs.setdefault(user_id, {})[conn.id] = conn

    # delivery ------------------------------------------------------------------------------

    def handle(self, message: Message) -> None:
        """The broker's handler: deliver an event, or apply a control message."""
        if isinstance(message, Delivery):
            index = (self.watchers if message.scope == "channel" else self.by_user
                     if message.scope == "user" else self.presence_subs)
            targets = index.get(message.key)
            if targets:
                self.write_many(list(targets.values()), message.payload)
            self.deliveries += 1
            if self.taps:
                self._tap(message)
        elif isinstance(message, Control):
            self._control(message.op, message.args)

    def write_many(self, conns: Iterable[Connection], payload: bytes) -> None:
        """Queue ``payload`` as one text frame (encoded once) to each of ``conns``; it is
        written by the flush at the next loop iteration, after anything queued before it."""
        frame = text_frame(payload)
        dirty = self._dirty
        queued = False
        for conn in conns:
            if conn.dropped:
                continue
            pending = conn.pending
            if pending is None:
                conn.pending = frame
                dirty.append(conn)
            elif isinstance(pending, bytes):
                conn.pending = [pending, frame]
            else:
                pending.append(frame)
            queued = True
        if queued and not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write every connection's queued frames with one ``transport.write`` each."""
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        limit = self.write_limit
        for conn in dirty:
            frames = conn.pending
            if frames is None:
                continue  # dropped since it was queued
            conn.pending = None
            conn.write(frames if isinstance(frames, bytes) else b"".join(frames), limit)

    # taps ----------------------------------------------------------------------------------

    def add_tap(self, scope: str, key: str, tap: Tap) -> None:
        self.taps.setdefault((scope, key), set()).add(tap)

    def remove_tap(self, scope: str, key: str, tap: Tap) -> None:
        found = self.taps.get((scope, key))
        if found is not None:
            found.discard(tap)
            if not found:
                del self.taps[(scope, key)]

    def _tap(self, message: Delivery) -> None:
        listeners = set(self.taps.get((message.scope, message.key), ()))
        if message.scope == "channel":
            for (scope, user_id), taps in self.taps.items():
                if scope == "user" and any(message.key in c.watching for c in
                                           self.by_user.get(user_id, {}).values()):
                    listeners |= taps
        for tap in listeners:
            try:
                tap(message.scope, message.key, message.payload)
            except Exception:  # a broken listener must not stop the fan-out
                log.exception("hub tap failed")

    def _control(self, op: str, args: dict[str, Any]) -> None:
        if op == "disconnect_user":
            self.disconnect(args.get("user_id"), args.get("issued_before"),
                            int(args.get("code", 4000)), str(args.get("reason", "")))
        elif op in self.control_handlers:
            self.control_handlers[op](args)
        else:
            log.warning("unknown control message %r", op)

    def disconnect(self, user_id: str | None, issued_before: float | None, code: int,
                   reason: str) -> None:
        """Drop the connections of ``user_id`` (None: of every user, anonymous ones aside);
        with ``issued_before``, only those whose token was issued before it or has no ``iat``
        (a revocation: see ``auth.check_revoked``)."""
        pool = self.connections if user_id is None else self.by_user.get(user_id, {})
        for conn in list(pool.values()):
            if conn.anonymous:
                continue
            if issued_before is not None and conn.issued_at is not None and (
                    conn.issued_at >= float(issued_before)):
                continue
            conn.drop(code, reason)

    def drop_all(self, code: int, reason: str) -> None:
        for conn in list(self.connections.values()):
            conn.drop(code, reason)
