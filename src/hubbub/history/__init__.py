"""Recent events kept for clients that were away: per-channel history and per-user inboxes,
in memory (one process) or in Redis (a cluster). See ``base.py`` for the guarantees."""

from hubbub.history.base import (
    History,
    HistoryCounters,
    HistoryError,
    HistoryStats,
    Page,
    Scope,
    oldest_cursor,
    stream_name,
)
from hubbub.history.memory import MemoryHistory


def create_history(broker_url: str, *, size: int, ttl: float) -> History | None:
    """The history that goes with the broker (Redis for a Redis broker, so every node sees
    it), or None when ``size`` or ``ttl`` is 0 (history switched off)."""
    if size <= 0 or ttl <= 0:
        return None
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        from hubbub.history.redis import RedisHistory

        return RedisHistory(broker_url, size=size, ttl=ttl)
    return MemoryHistory(size=size, ttl=ttl)


__all__ = ["History", "HistoryCounters", "HistoryError", "HistoryStats", "MemoryHistory", "Page", "Scope",
           "create_history", "oldest_cursor", "stream_name"]
