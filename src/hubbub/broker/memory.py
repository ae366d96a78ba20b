"""The in-process broker: hands each message straight to this node's hub."""

from __future__ import annotations

import logging

from hubbub.broker.base import Handler, Message, StateListener

log = logging.getLogger(__name__)


class MemoryBroker:
    distributed = False

    def __init__(self) -> None:
        self._handler: Handler | None = None

    @property
    def connected(self) -> bool:
        return True

    async def start(self, handler: Handler, on_state: StateListener | None = None) -> None:
        self._handler = handler

    async def publish(self, message: Message) -> None:
        if self._handler is not None:
            try:
                self._handler(message)
            except Exception:
                # As with Redis: a failing handler loses that message, never the publisher's
                # request (which has already done its work).
                log.exception("broker handler failed on %r", type(message).__name__)

    async def close(self) -> None:
        self._handler = None
