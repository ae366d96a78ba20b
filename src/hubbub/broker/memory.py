"""The in-process broker: hands each message straight to this node's hub."""

from __future__ import annotations

from hubbub.broker.base import Handler, Message


class MemoryBroker:
    distributed = False

    def __init__(self) -> None:
        self._handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def publish(self, message: Message) -> None:
        if self._handler is not None:
            self._handler(message)

    async def close(self) -> None:
        self._handler = None
