"""The broker interface.

Every event a client should see is published to the broker, and the broker hands it to the
``handler`` of every node (the node's hub). The memory broker calls this node's handler
directly; the Redis broker publishes and every node's subscriber calls its own. One delivery
path for one node or many: a single-node test exercises the cluster's code.

Guarantees: messages published by one node reach each node in the order they were published.
Delivery is at most once (a node that is down misses what was published meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event for connections: the watchers of channel ``key``, every connection of user
    ``key``, or the connections subscribed to user ``key``'s presence. ``payload`` is the event's JSON, encoded once for every recipient."""

    scope: Literal["channel", "user", "presence"]
    key: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Control:
    """An instruction for whichever node holds the connections concerned (e.g. ``watch``)."""

    op: str
    args: dict[str, Any]


Message = Delivery | Control
Handler = Callable[[Message], None]
#: Told False when the node stops hearing other nodes (it may miss messages from now on),
#: True when it hears them again (what was published meanwhile was missed).
StateListener = Callable[[bool], None]


class BrokerError(Exception):
    """The broker failed (unreachable, timeout, closed connection). Never the client's fault.

    Backends translate their driver's exceptions into this one where they would reach a
    caller (``start``, ``publish``)."""


class Broker(Protocol):
    #: True when other processes may hold connections (so a miss in the local hub means
    #: "ask the others", not "no such connection").
    distributed: bool

    @property
    def connected(self) -> bool:
        """True while this node hears every node's messages (always, in one process)."""

    async def start(self, handler: Handler, on_state: StateListener | None = None) -> None:
        """Begin handing messages to ``handler``; returns once subscribed. ``on_state`` is
        called (synchronously, before any message that follows) whenever the subscription is
        lost or regained, so the node can drop whatever may have missed an invalidation."""

    async def publish(self, message: Message) -> None:
        """Hand ``message`` to every node's handler (this node's included)."""

    async def close(self) -> None: ...
