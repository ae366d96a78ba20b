"""The in-process history: one bounded deque per stream, for a single node.

Appends never wait (the deque is bounded, so an append drops the oldest entry in O(1)).
Entries past ``ttl`` are dropped when their stream is appended to or read, and a sweeper
forgets streams that went quiet, so memory is bounded by the streams active within ``ttl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

from hubbub.history.base import HistoryCounters, HistoryStats, Page, oldest_cursor


@dataclass(slots=True)
class _Log:
    entries: deque[tuple[int, bytes]]
    #: The newest stamp dropped for count (0: none).
    floor: int = 0
    #: The last stamp given out (the stream's clock).
    last: int = 0


@dataclass(eq=False)
class MemoryHistory:
    size: int
    ttl: float
    counters: HistoryCounters = field(default_factory=HistoryCounters)
    _logs: dict[str, _Log] = field(default_factory=dict)
    _sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    async def append(self, stream: str, proposed_us: int, data: bytes) -> int:
        return self.append_now(stream, proposed_us, data)

    def append_now(self, stream: str, proposed_us: int, data: bytes) -> int:
        """:meth:`append` without the coroutine (the memory backend never waits)."""
        log = self._logs.get(stream)
        if log is None:
            log = self._logs[stream] = _Log(deque(maxlen=self.size))
        stamp = proposed_us if proposed_us > log.last else log.last + 1
        entries = log.entries
        if len(entries) == self.size:
            log.floor = entries[0][0]
        entries.append((stamp, data))
        log.last = stamp
        self._expire(log, stamp)
        return stamp

    def _expire(self, log: _Log, now_us: int) -> None:
        cutoff = oldest_cursor(now_us, self.ttl)
        entries = log.entries
        while entries and entries[0][0] < cutoff:
            entries.popleft()

    async def read(self, streams: list[str], after_us: int, now_us: int) -> dict[str, Page]:
        pages = {}
        for stream in streams:
            log = self._logs.get(stream)
            if log is None:
                pages[stream] = Page([])
                continue
            self._expire(log, now_us)
            pages[stream] = Page([e for e in log.entries if e[0] > after_us],
                                 complete=log.floor <= after_us)
        return pages

    async def take(self, stream: str, after_us: int, now_us: int) -> list[tuple[int, bytes]]:
        log = self._logs.get(stream)
        if log is None:
            return []
        self._expire(log, now_us)
        taken = [e for e in log.entries if e[0] > after_us]
        if taken:
            log.entries = deque((e for e in log.entries if e[0] <= after_us), maxlen=self.size)
        return taken

    async def stats(self) -> HistoryStats:
        return HistoryStats(streams=len(self._logs),
                            entries=sum(len(log.entries) for log in self._logs.values()))

    def sweep(self, now_us: int) -> None:
        """Forget streams whose newest entry has expired (their clock is no longer needed:
        the next stamp, taken from the wall clock, is past it anyway)."""
        cutoff = oldest_cursor(now_us, self.ttl)
        for stream in [s for s, log in self._logs.items() if log.last < cutoff]:
            del self._logs[stream]

    async def _sweep_forever(self) -> None:
        interval = max(1.0, min(self.ttl, 60.0))
        while True:
            await asyncio.sleep(interval)
            self.sweep(time.time_ns() // 1000)
