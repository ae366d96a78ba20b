"""Storage with users, channels and memberships served from memory (:mod:`hubbub.caches`).

A facade over any :class:`~hubbub.storage.base.Storage`: point reads of users, channels and
memberships are answered from the caches in the steady state, so ``sendEvent`` and watching
an existing channel make no storage round trip. Every write of those goes through here, is
applied to storage first, and then invalidates the entries concerned here and on every other
process (through the broker) before it returns. Everything else is passed through untouched.

Guarantees are the storage contract's (fresh copies, atomic writes) plus: after a write
returns, no process serves the value it replaced (see :mod:`hubbub.caches` for how, and for
what happens while the broker is down).
"""

from __future__ import annotations

from typing import Any

from hubbub.broker import BrokerError, Control
from hubbub.caches import INVALIDATE, Caches
from hubbub.core.models import Channel, Member, User, clone
from hubbub.storage.base import Storage


def copy_user(user: User) -> User:
    return clone(user, data=dict(user.data), teams=list(user.teams),
                 teams_role=dict(user.teams_role))


def copy_channel(channel: Channel) -> Channel:
    return clone(channel, data=dict(channel.data),
                 config_overrides=dict(channel.config_overrides))


def copy_member(member: Member | None) -> Member | None:
    return None if member is None else clone(member)


#: Channels with more members than this are not kept as a list (read from storage each time).
MAX_LISTED = 1000


class CachedStorage:
    """:class:`Storage` with cached point reads. ``inner`` is the real storage."""

    def __init__(self, inner: Storage, caches: Caches) -> None:
        self.inner = inner
        self.caches = caches

    def __getattr__(self, name: str) -> Any:
        # Everything not cached here is the inner storage's (queries, webhooks, tasks...).
        return getattr(self.inner, name)

    # users ------------------------------------------------------------------------------------

    async def get_users(self, ids: list[str]) -> dict[str, User]:
        caches = self.caches
        found: dict[str, User] = {}
        missing: list[str] = []
        for uid in dict.fromkeys(ids):
            hit, user = caches.users.get(uid) if caches.usable() else (False, None)
            if hit and user is not None:
                found[uid] = copy_user(user)
            else:
                missing.append(uid)
        if missing:
            epoch = caches.epoch("users")
            loaded = await self.inner.get_users(missing)
            keep = caches.keeps("users", epoch)
            for uid, user in loaded.items():
                if keep:
                    caches.users.put(uid, copy_user(user))
                found[uid] = user
        return found

    async def save_users(self, users: list[User], *,
                         keep: frozenset[str] = frozenset()) -> None:
        await self.inner.save_users(users, keep=keep)
        await self.caches.invalidate("users", [u.id for u in users])
        # Write-through: this process has the new values already, unless ``keep`` means the
        # stored rows may differ from ``users`` (then the next read loads them).
        if self.caches.usable() and not keep:
            for user in users:
                self.caches.users.put(user.id, copy_user(user))

    async def touch_users(self, last_active: dict[str, str]) -> None:
        """``last_active`` stored behind (``service.activity``): the other processes drop
        their copies so they show it too; this one already has it (``Users.touch``)."""
        await self.inner.touch_users(last_active)
        ids = list(last_active)
        if ids and self.caches.broker.distributed:
            try:
                await self.caches.broker.publish(Control(INVALIDATE, {
                    "kind": "users", "keys": ids, "origin": self.caches.node}))
            except BrokerError:
                pass  # nodes that missed it drop their caches when they reconnect

    async def delete_users(self, ids: list[str]) -> None:
        await self.inner.delete_users(ids)
        # Their memberships went too, in channels we do not index by user.
        await self.caches.invalidate("users", ids)
        await self.caches.invalidate("members", None)

    # channels and members ----------------------------------------------------------------------

    async def get_channel(self, cid: str) -> Channel | None:
        caches = self.caches
        if caches.usable():
            hit, channel = caches.channels.get(cid)
            if hit:
                return None if channel is None else copy_channel(channel)
        epoch = caches.epoch("channels")
        channel = await self.inner.get_channel(cid)
        if caches.keeps("channels", epoch):
            caches.channels.put(cid, None if channel is None else copy_channel(channel))
        return channel

    async def get_channel_and_member(self, cid: str,
                                     user_id: str) -> tuple[Channel | None, Member | None]:
        caches = self.caches
        if caches.usable():
            hit, channel = caches.channels.get(cid)
            if hit:
                if channel is None:
                    return None, None
                found, members = caches.members.get(cid)
                if found and members is not None and user_id in members:
                    return copy_channel(channel), copy_member(members[user_id])
        epoch = caches.epoch("channels")
        channel, member = await self.inner.get_channel_and_member(cid, user_id)
        if caches.keeps("channels", epoch):
            caches.channels.put(cid, None if channel is None else copy_channel(channel))
            if channel is not None:
                found, members = caches.members.get(cid)
                if not found or members is None:
                    members = {}
                    caches.members.put(cid, members)
                # Bounded: one channel's entries are at most its active senders.
                if len(members) < 10_000:
                    members[user_id] = copy_member(member)
        return channel, member

    async def get_members(self, cid: str, user_ids: list[str] | None = None) -> list[Member]:
        """A channel's members; the whole list (what every watch reads) is kept in memory for
        channels of up to ``MAX_LISTED`` members."""
        caches = self.caches
        if caches.usable():
            hit, listed = caches.member_lists.get(cid)
            if hit and listed is not None:
                wanted = None if user_ids is None else set(user_ids)
                return [clone(m) for m in listed if wanted is None or m.user_id in wanted]
        if user_ids is not None:
            return await self.inner.get_members(cid, user_ids)
        epoch = caches.epoch("channels")
        members = await self.inner.get_members(cid)
        if caches.keeps("channels", epoch) and len(members) <= MAX_LISTED:
            caches.member_lists.put(cid, [clone(m) for m in members])
        return members

    async def create_channel(self, channel: Channel, members: list[Member]) -> bool:
        created = await self.inner.create_channel(channel, members)
        # A miss ("no such channel") may be cached here and elsewhere.
        await self.caches.invalidate("channels", [channel.cid])
        return created

    async def save_channel(self, channel: Channel) -> None:
        await self.inner.save_channel(channel)
        await self.caches.invalidate("channels", [channel.cid])

    async def delete_channels(self, cids: list[str]) -> None:
        await self.inner.delete_channels(cids)
        await self.caches.invalidate("channels", list(cids))

    async def save_members(self, members: list[Member]) -> None:
        await self.inner.save_members(members)
        await self.caches.invalidate("members", sorted({m.cid for m in members}))

    async def remove_members(self, cid: str, user_ids: list[str]) -> None:
        await self.inner.remove_members(cid, user_ids)
        await self.caches.invalidate("members", [cid])

    # settings: stored here, kept in the Context; tell every process to reload ---------------

    async def save_app_settings(self, settings: dict[str, Any]) -> None:
        await self.inner.save_app_settings(settings)
        await self.caches.invalidate("settings", None)

    async def save_channel_type(self, channel_type: Any) -> None:
        await self.inner.save_channel_type(channel_type)
        await self.caches.invalidate("settings", None)

    async def delete_channel_type(self, name: str) -> None:
        await self.inner.delete_channel_type(name)
        await self.caches.invalidate("settings", None)

    async def create_role(self, name: str, now: str) -> bool:
        created = await self.inner.create_role(name, now)
        await self.caches.invalidate("settings", None)
        return created

    async def delete_role(self, name: str) -> bool:
        deleted = await self.inner.delete_role(name)
        await self.caches.invalidate("settings", None)
        return deleted


class Users:
    """The users as use cases read and write them (through the cached storage)."""

    def __init__(self, storage: CachedStorage) -> None:
        self.storage = storage

    async def get(self, ids: list[str]) -> dict[str, User]:
        """The stored users among ``ids`` (missing ones are absent)."""
        return await self.storage.get_users(ids)

    async def get_one(self, user_id: str) -> User | None:
        return (await self.storage.get_users([user_id])).get(user_id)

    async def save(self, batch: list[User], *, keep: frozenset[str] = frozenset()) -> None:
        """Write through (see ``Storage.save_users`` for ``keep``)."""
        await self.storage.save_users(batch, keep=keep)

    async def delete(self, ids: list[str]) -> None:
        await self.storage.delete_users(ids)

    def touch(self, user_id: str, last_active: str) -> None:
        """Set the cached user's ``last_active`` (stored behind by the caller); nothing if it
        is not cached."""
        hit, user = self.storage.caches.users.get(user_id)
        if hit and user is not None:
            user.last_active = last_active
