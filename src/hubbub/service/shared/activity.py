"""``last_active``, written behind: connects and disconnects note the time here, and a
background task stores the notes in one batch every few seconds (and once more at shutdown).

Why: a connect that changes nothing else about its user then makes no storage write, so a
reconnect storm after a restart costs no write transaction per client.

Guarantees: a noted time reaches storage within ``interval`` seconds (plus the write's own
time) while the server runs, and at a graceful stop; a crash loses at most the last
``interval`` seconds of notes (``last_active`` is advisory). The newest note per user wins.
A failed write is kept and retried with the next batch, unless a newer note replaced it.
"""

from __future__ import annotations

import asyncio
import logging

from hubbub.storage.base import Storage, StorageError

log = logging.getLogger(__name__)


class ActivityRecorder:
    def __init__(self, storage: Storage, *, interval: float) -> None:
        self.storage = storage
        self.interval = interval
        self._pending: dict[str, str] = {}

    def note(self, user_id: str, when: str) -> None:
        """Remember that ``user_id`` was active at ``when`` (an RFC 3339 UTC time)."""
        self._pending[user_id] = when

    async def flush(self) -> None:
        """Store every note taken so far."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await self.storage.touch_users(batch)
        except StorageError:
            # Keep what was not written, unless a newer note came in meanwhile.
            self._pending = {**batch, **self._pending}
            raise

    async def run(self) -> None:
        """Flush every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except StorageError as exc:
                log.warning("last_active not stored, will retry: %s", exc)
