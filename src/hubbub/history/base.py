"""The history interface: a bounded, per-stream log of recent events, for ``/sync``.

A *stream* is a channel (``channel:<cid>``) or one user's inbox (``user:<user_id>``). Each
entry is an event's JSON *without* its ``created_at`` and a *stamp*, the event's time in
microseconds since the epoch; ``created_at`` is rebuilt from the stamp when the entry is read.

Guarantees every backend gives:

- *A cursor with no ties.* :meth:`History.append` assigns the stamp: the proposed time, or one
  microsecond past the stream's previous stamp if the clock has not moved on (or went back).
  Stamps therefore strictly increase within a stream, on one node or across a cluster
  sharing a backend, so "every event after stamp S" is exact.
- *Bounds.* A stream keeps at most ``size`` entries (the oldest are dropped first) and none
  older than ``ttl`` seconds. Entries dropped for count are remembered as the stream's
  *floor* (the newest dropped stamp), so a reader can tell "nothing happened" from "it
  happened and was dropped": :class:`Page.complete` is False when the history no longer
  reaches back to the requested stamp. Entries older than ``ttl`` are not tracked: a reader
  must refuse cursors older than ``now - ttl`` itself (see :func:`oldest_cursor`).
- *Inbox reads are destructive.* :meth:`History.take` returns and removes in one atomic step,
  so an inbox entry is handed out at most once, even to two concurrent readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

Scope = Literal["channel", "user"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def stream_name(scope: Scope, key: str) -> str:
    return f"{scope}:{key}"


class HistoryError(Exception):
    """The history's backend failed (unreachable, timeout). Never the client's fault."""


@dataclass(frozen=True, slots=True)
class Page:
    """Entries of one stream after a cursor, oldest first."""

    entries: list[tuple[int, bytes]]
    #: False when entries after the cursor were dropped for count (the reader missed some).
    complete: bool = True


@dataclass(slots=True)
class HistoryCounters:
    """What this process did with the history (for ``/metrics``)."""

    recorded: int = 0
    inboxed: int = 0
    syncs: int = 0
    synced_events: int = 0
    too_old: int = 0


@dataclass(frozen=True, slots=True)
class HistoryStats:
    """How much the history holds now (for ``/metrics``)."""

    streams: int
    entries: int


def oldest_cursor(now_us: int, ttl: float) -> int:
    """The oldest stamp a reader may ask from: older ones may have expired unseen."""
    return now_us - int(ttl * 1_000_000)


class History(Protocol):
    size: int
    ttl: float
    counters: HistoryCounters

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, stream: str, proposed_us: int, data: bytes) -> int:
        """Store ``data`` in ``stream``; return its stamp (``>= proposed_us``, and past every
        earlier stamp of the stream). Backends raise only :class:`HistoryError`."""

    async def read(self, streams: list[str], after_us: int, now_us: int) -> dict[str, Page]:
        """The entries of each stream with a stamp past ``after_us`` (and not expired at
        ``now_us``), oldest first."""

    async def take(self, stream: str, after_us: int, now_us: int) -> list[tuple[int, bytes]]:
        """Like :meth:`read` for one stream, and remove what is returned."""

    async def stats(self) -> HistoryStats: ...


def parse_stamp(value: str) -> int:
    """An RFC 3339 time as a stamp (``ValueError`` if it is not one). No offset means UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # fromisoformat (3.11) takes 3 or 6 fractional digits; RFC 3339 allows any number.
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, tail = rest[:digits], rest[digits:]
        text = f"{head}.{(fraction + '000000')[:6]}{tail}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
