"""Events per second over the last minutes, sampled from the hub's delivery counter.

The sampler reads one integer once a second: it adds nothing to the event path. The chart is an
SVG polyline computed here, so the page needs no charting script.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_SECONDS = 300


@dataclass
class Sampler:
    """Deliveries per second for the last ``WINDOW_SECONDS`` seconds."""

    rates: deque[int] = field(default_factory=lambda: deque(maxlen=WINDOW_SECONDS))
    _last: int | None = None
    _task: asyncio.Task[None] | None = None

    def sample(self, total: int) -> None:
        if self._last is not None:
            self.rates.append(max(total - self._last, 0))
        self._last = total

    def start(self, read_total: Callable[[], int]) -> None:
        async def run() -> None:
            while True:
                self.sample(read_total())
                await asyncio.sleep(1.0)

        self._task = asyncio.get_running_loop().create_task(run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    @property
    def per_second(self) -> float:
        """Average over the last 5 seconds (one second alone is too jumpy to read)."""
        recent = list(self.rates)[-5:]
        return sum(recent) / len(recent) if recent else 0.0

    @property
    def peak(self) -> int:
        return max(self.rates, default=0)

    def chart(self, width: int = 300, height: int = 60) -> str:
        """SVG ``points`` of the rate over the window, newest on the right."""
        rates = list(self.rates)
        top = max(max(rates, default=0), 1)
        offset = WINDOW_SECONDS - len(rates)
        step = width / max(WINDOW_SECONDS - 1, 1)
        return " ".join(f"{(offset + i) * step:.1f},{height - r / top * (height - 2) - 1:.1f}"
                        for i, r in enumerate(rates))
