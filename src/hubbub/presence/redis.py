"""Presence kept in Redis, with node-level expiry.

Keys (``P`` is ``<prefix>:<db>:presence``, the broker's prefix and database)::

    P:nodes             ZSET  node id -> unix time its heartbeat lapses
    P:conns:<node>      HASH  connection id -> user id          (a node's connections)
    P:user:<user>       SET   "<node>/<connection>"              (a user's connections)
    P:watch:<cid>       HASH  "<node>/<connection>" -> user id   (a channel's watchers)
    P:nodewatch:<node>  SET   cids a node has watchers in        (to clean up after it)

An entry counts only while its node's heartbeat (renewed every ``ttl / 3``) has not lapsed:
every read fetches the live nodes in the same pipeline and filters on them, so a dead node's
connections stop counting within ``ttl`` seconds. Every node also looks for lapsed nodes at
each heartbeat; the one that claims a dead node (``SET NX``) deletes its entries and reports
each user left without a live connection (``on_offline``). A node that finds itself gone from
``P:nodes`` at a heartbeat (it stalled past the TTL) registers everything again. Heartbeats are
wall-clock times: the nodes' clocks must agree to well within the TTL (NTP).

Redis failures never fail a connection or a request: the node answers from its own record
(:class:`MemoryPresence` of its own connections) until Redis is back, then re-registers
everything it holds (:meth:`resync`, called when the broker resubscribes), since a restarted
Redis has lost it all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hubbub.broker.redis import split_url
from hubbub.presence.base import Gone
from hubbub.presence.memory import MemoryPresence

log = logging.getLogger(__name__)
_FAILURES = (RedisError, OSError)


class RedisPresence:
    def __init__(self, url: str, node: str, *, ttl: float = 15.0,
                 timeout: float = 2.0) -> None:
        redis_url, prefix = split_url(url)
        # Any: with decode_responses the replies are str, which redis-py's types cannot say.
        self._redis: Any = Redis.from_url(redis_url, socket_connect_timeout=timeout,
                                     socket_timeout=timeout, decode_responses=True,
                                     client_name=f"hubbub-{node}-presence")
        db = self._redis.connection_pool.connection_kwargs.get("db", 0)
        self.p = f"{prefix or 'hubbub'}:{db}:presence"
        self.node = node
        self.ttl = ttl
        self.local = MemoryPresence()
        #: Users online anywhere, as last heard (see the package docstring).
        self._online: set[str] = set()
        self._on_offline: Gone | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._failing = False

    # lifecycle ----------------------------------------------------------------------------

    async def start(self, on_offline: Gone) -> None:
        self._on_offline = on_offline
        await self.resync()
        self._heartbeat = asyncio.create_task(self._beat(), name=f"presence-{self.node}")

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            try:
                await self._heartbeat
            except asyncio.CancelledError:
                pass
        try:
            # A clean stop: nothing of ours should outlive us, not even for ``ttl``.
            async with self._redis.pipeline(transaction=False) as pipe:
                await self._forget_node(pipe, self.node)
                await pipe.execute()
        except _FAILURES as exc:
            log.debug("presence: could not clean up on close: %s", exc)
        await self._redis.aclose()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                added = await self._redis.zadd(f"{self.p}:nodes",
                                               {self.node: time.time() + self.ttl})
                if added:
                    # We were taken for dead (a stall longer than the TTL, or Redis lost our
                    # entries): register everything again.
                    await self.resync()
                await self._collect_dead()
                self._ok()
            except _FAILURES as exc:
                self._failed(exc)
            except Exception:
                log.exception("presence: heartbeat failed")

    def _ok(self) -> None:
        self._failing = False

    def _failed(self, exc: BaseException) -> None:
        # The broker logs the outage; this is detail.
        if not self._failing:
            self._failing = True
            log.debug("presence: Redis unavailable, answering for this node only: %s", exc)

    # helpers ------------------------------------------------------------------------------

    def _member(self, conn_id: str) -> str:
        return f"{self.node}/{conn_id}"

    async def _live(self, pipe: Any) -> None:
        pipe.zrangebyscore(f"{self.p}:nodes", time.time(), "+inf")

    @staticmethod
    def _alive(member: str, live: set[str]) -> bool:
        return member.partition("/")[0] in live

    # connections --------------------------------------------------------------------------

    async def connected(self, conn_id: str, user_id: str) -> bool:
        first_here = await self.local.connected(conn_id, user_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(f"{self.p}:conns:{self.node}", conn_id, user_id)
                pipe.sadd(f"{self.p}:user:{user_id}", self._member(conn_id))
                pipe.smembers(f"{self.p}:user:{user_id}")
                await self._live(pipe)
                *_, members, live = await pipe.execute()
        except _FAILURES as exc:
            self._failed(exc)
            first = first_here and user_id not in self._online
        else:
            live_set = set(live)
            first = [m for m in members if self._alive(m, live_set)] == [self._member(conn_id)]
        self._online.add(user_id)
        return first

    async def disconnected(self, conn_id: str, user_id: str) -> bool:
        last_here = await self.local.disconnected(conn_id, user_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hdel(f"{self.p}:conns:{self.node}", conn_id)
                pipe.srem(f"{self.p}:user:{user_id}", self._member(conn_id))
                pipe.smembers(f"{self.p}:user:{user_id}")
                await self._live(pipe)
                *_, members, live = await pipe.execute()
        except _FAILURES as exc:
            self._failed(exc)
            last = last_here
        else:
            live_set = set(live)
            last = not any(self._alive(m, live_set) for m in members)
        if last:
            self._online.discard(user_id)
        return last

    # watching -----------------------------------------------------------------------------

    async def watch(self, cid: str, conn_id: str, user_id: str) -> bool:
        first_here = await self.local.watch(cid, conn_id, user_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(f"{self.p}:watch:{cid}")
                pipe.hset(f"{self.p}:watch:{cid}", self._member(conn_id), user_id)
                pipe.sadd(f"{self.p}:nodewatch:{self.node}", cid)
                await self._live(pipe)
                before, *_, live = await pipe.execute()
        except _FAILURES as exc:
            self._failed(exc)
            return first_here
        live_set = set(live)
        return not any(u == user_id and self._alive(m, live_set) for m, u in before.items())

    async def unwatch(self, cid: str, conn_id: str, user_id: str) -> bool:
        await self.local.unwatch(cid, conn_id, user_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hdel(f"{self.p}:watch:{cid}", self._member(conn_id))
                pipe.hgetall(f"{self.p}:watch:{cid}")
                await self._live(pipe)
                _, after, live = await pipe.execute()
        except _FAILURES as exc:
            self._failed(exc)
            return user_id not in (await self.local.watchers(cid))[1]
        live_set = set(live)
        return not any(u == user_id and self._alive(m, live_set) for m, u in after.items())

    async def watchers(self, cid: str) -> tuple[int, list[str]]:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(f"{self.p}:watch:{cid}")
                await self._live(pipe)
                entries, live = await pipe.execute()
        except _FAILURES as exc:
            self._failed(exc)
            return await self.local.watchers(cid)
        live_set = set(live)
        alive = [u for m, u in sorted(entries.items()) if self._alive(m, live_set)]
        return len(alive), list(dict.fromkeys(alive))

    # online -------------------------------------------------------------------------------

    def is_online(self, user_id: str) -> bool:
        return user_id in self._online or self.local.is_online(user_id)

    async def connected_anywhere(self, user_id: str) -> bool:
        if self.local.is_online(user_id):
            return True
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.smembers(f"{self.p}:user:{user_id}")
                await self._live(pipe)
                members, live = await pipe.execute()
        except _FAILURES as exc:
            self._failed(exc)
            return user_id in self._online
        live_set = set(live)
        return any(self._alive(m, live_set) for m in members)

    def mark(self, user_id: str, online: bool) -> None:
        if online:
            self._online.add(user_id)
        else:
            self._online.discard(user_id)

    async def resync(self) -> None:
        """Register this node and everything it holds; reload the online mirror."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(f"{self.p}:nodes", {self.node: time.time() + self.ttl})
                pipe.delete(f"{self.p}:gc:{self.node}")
                for user_id, conns in self.local.connections.items():
                    for conn_id in conns:
                        pipe.hset(f"{self.p}:conns:{self.node}", conn_id, user_id)
                        pipe.sadd(f"{self.p}:user:{user_id}", self._member(conn_id))
                for cid, watchers in self.local.watching.items():
                    for conn_id, user_id in watchers.items():
                        pipe.hset(f"{self.p}:watch:{cid}", self._member(conn_id), user_id)
                    pipe.sadd(f"{self.p}:nodewatch:{self.node}", cid)
                await self._live(pipe)
                *_, live = await pipe.execute()
            online: set[str] = set()
            for node in live:
                online.update(await self._redis.hvals(f"{self.p}:conns:{node}"))
            self._online = online
            self._ok()
        except _FAILURES as exc:
            self._failed(exc)

    # dead nodes ---------------------------------------------------------------------------

    async def _collect_dead(self) -> None:
        dead = await self._redis.zrangebyscore(f"{self.p}:nodes", "-inf", time.time())
        for node in dead:
            if node == self.node:
                continue
            if not await self._redis.set(f"{self.p}:gc:{node}", self.node, nx=True, ex=60):
                continue  # another node is on it
            conns = await self._redis.hgetall(f"{self.p}:conns:{node}")
            users = set(conns.values())
            async with self._redis.pipeline(transaction=False) as pipe:
                for conn_id, user_id in conns.items():
                    pipe.srem(f"{self.p}:user:{user_id}", f"{node}/{conn_id}")
                await self._forget_node(pipe, node)
                await pipe.execute()
            live = set(await self._redis.zrangebyscore(f"{self.p}:nodes", time.time(), "+inf"))
            for user_id in sorted(users):
                members = await self._redis.smembers(f"{self.p}:user:{user_id}")
                if not any(self._alive(m, live) for m in members):
                    self._online.discard(user_id)
                    if self._on_offline is not None:
                        self._on_offline(user_id, False)
            log.info("presence: node %s stopped heartbeating; its %d connections no longer "
                     "count", node, len(conns))

    async def _forget_node(self, pipe: Any, node: str) -> None:
        """Queue the deletion of ``node``'s entries on ``pipe`` (its watch entries need a
        read first: done here, outside the pipeline)."""
        cids = await self._redis.smembers(f"{self.p}:nodewatch:{node}")
        for cid in cids:
            entries = await self._redis.hkeys(f"{self.p}:watch:{cid}")
            mine = [m for m in entries if m.partition("/")[0] == node]
            if mine:
                pipe.hdel(f"{self.p}:watch:{cid}", *mine)
        if node == self.node:
            for user_id, conns in self.local.connections.items():
                for conn_id in conns:
                    pipe.srem(f"{self.p}:user:{user_id}", self._member(conn_id))
        pipe.delete(f"{self.p}:conns:{node}", f"{self.p}:nodewatch:{node}")
        pipe.zrem(f"{self.p}:nodes", node)
