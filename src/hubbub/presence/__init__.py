"""Presence backends: in process (memory broker) or in Redis (Redis broker)."""

from hubbub.presence.base import Presence
from hubbub.presence.memory import MemoryPresence


def create_presence(broker_url: str, node: str, *, ttl: float) -> Presence:
    """The backend that matches the broker: Redis presence beside a Redis broker."""
    if broker_url in ("", "memory"):
        return MemoryPresence()
    from hubbub.presence.redis import RedisPresence

    return RedisPresence(broker_url, node, ttl=ttl)


__all__ = ["MemoryPresence", "Presence", "create_presence"]
