"""Presence: who is online and who watches which channel, across every node.

Each node tells its presence backend about its own connections (open, close, watch, stop
watching); every node asks it the cluster-wide answers (``watcher_count``, the watchers
list, ``online``). The memory backend answers for one process; the Redis backend keeps the
registry in Redis, where each entry belongs to a node that renews a heartbeat: a node that
dies (``kill -9``, lost network) stops counting once its heartbeat lapses, within the
configured ``presence_ttl``, and the first live node to notice removes its entries and
announces the users that went offline with it.

``is_online`` is synchronous (it is read while rendering every user object): it answers from
a mirror of the cluster-wide online set, kept current by the ``online`` control messages that
every transition publishes, and reloaded from the registry after a broker outage.

Transitions are reported to the caller as booleans (first connection of a user anywhere,
last one gone, first watch of a channel by a user, last one), so the caller can announce
``user.presence.changed`` and ``user.watching.start``/``stop`` exactly on those edges. Under
concurrent changes for one user on two nodes both may see an edge; announcements are
best-effort, counts are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

#: Called with (user id, online) for transitions the backend discovers by itself (a dead
#: node's users going offline).
Gone = Callable[[str, bool], None]


class Presence(Protocol):
    async def start(self, on_offline: Gone) -> None: ...

    async def close(self) -> None: ...

    async def connected(self, conn_id: str, user_id: str) -> bool:
        """Record a new connection; True if it is the user's first anywhere."""

    async def disconnected(self, conn_id: str, user_id: str) -> bool:
        """Forget a connection; True if it was the user's last anywhere."""

    async def watch(self, cid: str, conn_id: str, user_id: str) -> bool:
        """True if this is the user's first connection watching ``cid`` anywhere."""

    async def unwatch(self, cid: str, conn_id: str, user_id: str) -> bool:
        """True if no connection of the user watches ``cid`` anywhere any more."""

    async def watchers(self, cid: str) -> tuple[int, list[str]]:
        """The number of connections watching ``cid`` and their distinct users (in order)."""

    def is_online(self, user_id: str) -> bool: ...

    async def connected_anywhere(self, user_id: str) -> bool:
        """Asked of the registry itself, not the mirror: does ``user_id`` hold a connection
        on a live node right now? (For decisions that must not lag, e.g. user inboxes.)"""

    def mark(self, user_id: str, online: bool) -> None:
        """Update the online mirror (the ``online`` control message of another node)."""

    async def resync(self) -> None:
        """After a broker outage: re-register this node's entries (Redis may have restarted
        empty) and reload the online mirror."""
