"""The Redis history: every node of a cluster reads and writes the same logs, so a client that
reconnects to another node finds what it missed.

Layout (``<p>`` is ``<prefix>:<db>``, the broker's naming):

- ``<p>:h:<stream>``: a sorted set, score = stamp (microseconds; exact in a double until the
  year 2255), member = the stamp in hex, ``:``, then the event's JSON without ``created_at``
  (the stamp keeps members unique when two events are otherwise equal).
- ``<p>:hm:<stream>``: a hash with the stream's clock (``last``) and floor (``floor``).

Both keys expire ``ttl`` after the stream's last append, so a quiet stream costs nothing.

Guarantees: an append is one Lua script (stamp, add, trim by count then age, record the floor,
refresh expiry), so stamps strictly increase per stream across every node, and the bounds
hold after every append. Appends from one node are batched (one script call runs a batch, in
call order); each returns once Redis has run it (or raises :class:`HistoryError`).
:meth:`RedisHistory.take` is one script too: an inbox entry is returned at most once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hubbub.broker.redis import split_url
from hubbub.history.base import (
    HistoryCounters,
    HistoryError,
    HistoryStats,
    Page,
    oldest_cursor,
)

log = logging.getLogger(__name__)

_FAILURES = (RedisError, OSError)

# A batch of appends in one call. KEYS: log and meta of each append, in turn. ARGV: size,
# ttl in microseconds, then the proposed stamp and data of each append. Returns the stamps.
_APPEND = """
local size = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local ms = math.floor(ttl / 1000) + 1000
local stamps = {}
for i = 1, #KEYS / 2 do
  local log, meta = KEYS[2 * i - 1], KEYS[2 * i]
  local stamp = tonumber(ARGV[2 * i + 1])
  local last = tonumber(redis.call('HGET', meta, 'last') or '0')
  if stamp <= last then stamp = last + 1 end
  redis.call('ZADD', log, stamp, string.format('%x', stamp) .. ':' .. ARGV[2 * i + 2])
  local count = redis.call('ZCARD', log)
  if count > size then
    local dropped = redis.call('ZRANGE', log, count - size - 1, count - size - 1, 'WITHSCORES')
    redis.call('HSET', meta, 'floor', dropped[2])
    redis.call('ZREMRANGEBYRANK', log, 0, count - size - 1)
  end
  redis.call('ZREMRANGEBYSCORE', log, '-inf', '(' .. string.format('%d', stamp - ttl))
  redis.call('HSET', meta, 'last', string.format('%d', stamp))
  redis.call('PEXPIRE', log, ms)
  redis.call('PEXPIRE', meta, ms)
  stamps[i] = stamp
end
return stamps
"""

# KEYS: log. ARGV: lowest score to return (inclusive).
_TAKE = """
local taken = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
if #taken > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], '+inf') end
return taken
"""

# KEYS: the user's counts. ARGV: the node key prefix. True if a live node counts a connection.



def _decode(member: bytes) -> tuple[int, bytes]:
    head, _, data = member.partition(b":")
    return int(head, 16), data


@dataclass(frozen=True, slots=True)
class _Names:
    prefix: str

    def log(self, stream: str) -> str:
        return f"{self.prefix}:h:{stream}"

    def meta(self, stream: str) -> str:
        return f"{self.prefix}:hm:{stream}"


class RedisHistory:
    """:class:`~hubbub.history.base.History` over Redis sorted sets (redis-py asyncio)."""

    def __init__(self, url: str, *, size: int, ttl: float, prefix: str | None = None,
                 timeout: float = 5.0, batch_size: int = 512) -> None:
        redis_url, url_prefix = split_url(url)
        self.size = size
        self.ttl = ttl
        self.counters = HistoryCounters()
        self.client: Redis = Redis.from_url(
            redis_url, socket_connect_timeout=timeout, socket_timeout=timeout,
            socket_keepalive=True)
        db = self.client.connection_pool.connection_kwargs.get("db", 0)
        self.prefix = f"{prefix or url_prefix or 'hubbub'}:{db}"
        self._names = _Names(self.prefix)
        self._append = self.client.register_script(_APPEND)
        self._take = self.client.register_script(_TAKE)
        self._ttl_us = int(ttl * 1_000_000)
        self._batch_size = batch_size
        self._pending: collections.deque[
            tuple[str, int, bytes, asyncio.Future[int]]] = collections.deque()
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._writer), 5)
        with contextlib.suppress(*_FAILURES):
            await self.client.aclose()

    async def append(self, stream: str, proposed_us: int, data: bytes) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((stream, proposed_us, data, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """Run queued appends in order, a batch per script call, until none is left."""
        try:
            while self._pending:
                batch = [self._pending.popleft()
                         for _ in range(min(self._batch_size, len(self._pending)))]
                keys: list[str] = []
                args: list[Any] = [self.size, self._ttl_us]
                for stream, proposed, data, _ in batch:
                    keys += (self._names.log(stream), self._names.meta(stream))
                    args += (proposed, data)
                try:
                    stamps: list[Any] = await self._append(keys=keys, args=args)
                    failure: BaseException | None = None
                except _FAILURES as exc:
                    failure = exc
                for i, (_, _, _, future) in enumerate(batch):
                    if future.done():
                        continue
                    if failure is not None:
                        error = HistoryError(f"recording history failed: {failure}")
                        error.__cause__ = failure
                        future.set_exception(error)
                    else:
                        future.set_result(int(stamps[i]))
        finally:
            self._writer = None

    async def read(self, streams: list[str], after_us: int, now_us: int) -> dict[str, Page]:
        low = max(after_us + 1, oldest_cursor(now_us, self.ttl))
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for stream in streams:
                    pipe.zrangebyscore(self._names.log(stream), low, "+inf")
                    pipe.hget(self._names.meta(stream), "floor")
                results = await pipe.execute()
        except _FAILURES as exc:
            raise HistoryError(f"reading history failed: {exc}") from exc
        pages = {}
        for i, stream in enumerate(streams):
            members, floor = results[2 * i], results[2 * i + 1]
            pages[stream] = Page([_decode(m) for m in members],
                                 complete=int(floor or 0) <= after_us)
        return pages

    async def take(self, stream: str, after_us: int, now_us: int) -> list[tuple[int, bytes]]:
        low = max(after_us + 1, oldest_cursor(now_us, self.ttl))
        try:
            taken = await self._take(keys=[self._names.log(stream)], args=[low])
        except _FAILURES as exc:
            raise HistoryError(f"reading an inbox failed: {exc}") from exc
        return [_decode(m) for m in taken]

    async def stats(self) -> HistoryStats:
        """Counted with SCAN (at most 10,000 streams looked at): for metrics, not hot paths."""
        streams = entries = 0
        try:
            keys = []
            async for key in self.client.scan_iter(match=f"{self.prefix}:h:*", count=1000):
                keys.append(key)
                if len(keys) >= 10_000:
                    break
            async with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zcard(key)
                counts = await pipe.execute()
            streams, entries = len(keys), sum(int(c) for c in counts)
        except _FAILURES as exc:
            log.warning("history: cannot count entries: %s", exc)
        return HistoryStats(streams=streams, entries=entries)
