"""Users by id, cached in memory in front of storage.

Every request reads its acting user, so the read is served from memory: the send-event hot path
then makes one storage round trip (the channel and the sender's membership) instead of two.

Consistency: writes go through this cache (write-through), so this process never serves a stale
user after its own write. Other processes learn of a write through the broker (an
``invalidate_users`` control message) within a broker hop; entries also expire after ``ttl``
seconds, which bounds staleness if such a message is lost. Callers get copies and may mutate
them freely.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace

from hubbub.broker import Broker, Control
from hubbub.core.models import User
from hubbub.storage.base import Storage


def _copy(user: User) -> User:
    return replace(user, data=dict(user.data), teams=list(user.teams))


class UserCache:
    def __init__(self, storage: Storage, broker: Broker, *, size: int = 50_000,
                 ttl: float = 30.0) -> None:
        self.storage = storage
        self.broker = broker
        self.size = size
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[float, User]] = OrderedDict()

    async def get(self, ids: list[str]) -> dict[str, User]:
        """The stored users among ``ids`` (missing ones are absent)."""
        now = time.monotonic()
        found: dict[str, User] = {}
        missing: list[str] = []
        for uid in dict.fromkeys(ids):
            entry = self._entries.get(uid)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(uid)
                found[uid] = _copy(entry[1])
            else:
                missing.append(uid)
        if missing:
            loaded = await self.storage.get_users(missing)
            for uid, user in loaded.items():
                self._remember(user, now)
                found[uid] = _copy(user)
        return found

    async def get_one(self, user_id: str) -> User | None:
        return (await self.get([user_id])).get(user_id)

    async def save(self, batch: list[User], *, keep: frozenset[str] = frozenset()) -> None:
        """Write through. With ``keep`` (see ``Storage.save_users``) the stored row may differ
        from ``batch``: those users are forgotten here rather than remembered."""
        await self.storage.save_users(batch, keep=keep)
        now = time.monotonic()
        for user in batch:
            if keep:
                self._entries.pop(user.id, None)
            else:
                self._remember(_copy(user), now)
        await self._tell_others([u.id for u in batch])

    async def delete(self, ids: list[str]) -> None:
        await self.storage.delete_users(ids)
        self.forget(ids)
        await self._tell_others(ids)

    def touch(self, user_id: str, last_active: str) -> None:
        """Set the cached user's ``last_active`` (written to storage behind, by the caller);
        nothing if it is not cached."""
        entry = self._entries.get(user_id)
        if entry is not None:
            entry[1].last_active = last_active

    def forget(self, ids: list[str]) -> None:
        for uid in ids:
            self._entries.pop(uid, None)

    def _remember(self, user: User, now: float) -> None:
        self._entries[user.id] = (now + self.ttl, user)
        self._entries.move_to_end(user.id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    async def _tell_others(self, ids: list[str]) -> None:
        if self.broker.distributed and ids:
            await self.broker.publish(Control("invalidate_users", {"ids": ids}))
