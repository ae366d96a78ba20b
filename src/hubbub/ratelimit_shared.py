"""Rate-limit counters shared by every node, in Redis (beside a Redis broker).

Without them each node counts on its own, and a user spreading calls over N nodes (which any
load balancer does) gets N times the limit. With them a window's count is one Redis key,
``<prefix>:<db>:ratelimit:<seconds>:<window index>:<key>``, incremented atomically by every node
(``INCR``, then ``EXPIRE`` past the window's end, in one pipelined round trip), so the limit
holds for the cluster as a whole.

If Redis cannot be reached the call is counted by this node alone (:meth:`add` answers None and
the caller falls back to its local window): a Redis outage never refuses or fails a call because
of rate limiting; it only loosens the limit to a per-node one until Redis is back.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from hubbub.broker.redis import split_url

log = logging.getLogger(__name__)


class SharedCounter:
    def __init__(self, url: str, *, timeout: float = 1.0) -> None:
        redis_url, prefix = split_url(url)
        self._redis: Any = Redis.from_url(redis_url, socket_connect_timeout=timeout,
                                          socket_timeout=timeout, client_name="hubbub-ratelimit")
        db = self._redis.connection_pool.connection_kwargs.get("db", 0)
        self.prefix = f"{prefix or 'hubbub'}:{db}:ratelimit"
        self._failing = False

    async def add(self, key: tuple[str, ...], seconds: int, now: float) -> int | None:
        """Count one call under ``key`` in the window of ``seconds`` holding ``now``; the
        window's count so far, cluster-wide, or None if Redis could not be asked."""
        name = f"{self.prefix}:{seconds}:{int(now // seconds)}:" + "\x1f".join(key)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(name)
                pipe.expire(name, seconds + 5)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            if not self._failing:
                self._failing = True
                log.debug("rate limits: Redis unavailable, counting per node: %s", exc)
            return None
        self._failing = False
        return int(count)

    async def close(self) -> None:
        await self._redis.aclose()
