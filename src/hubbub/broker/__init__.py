"""Brokers carry every event to the hub of every node: memory (one process) or Redis (many)."""

from hubbub.broker.base import (
    Broker,
    BrokerError,
    Control,
    Delivery,
    Message,
    StateListener,
)
from hubbub.broker.memory import MemoryBroker


def create_broker(url: str) -> Broker:
    """``memory`` or a ``redis://`` URL."""
    if url in ("", "memory"):
        return MemoryBroker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from hubbub.broker.redis import RedisBroker

        return RedisBroker(url)
    raise ValueError(f"unknown broker URL {url!r}: use 'memory' or 'redis://host:port/db'")


__all__ = ["Broker", "BrokerError", "Control", "Delivery", "MemoryBroker", "Message",
           "StateListener", "create_broker"]
