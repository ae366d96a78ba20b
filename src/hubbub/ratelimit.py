"""Rate limits in Stream's shape: per user and endpoint for client-side calls, and (optionally)
per app, endpoint and platform; lowercase ``x-ratelimit-*`` headers; 429 with code 9 past a
limit; ``GET /rate_limits``.

What is limited, and why:

- **Per user** (on by default): each user's client-side calls to one endpoint, ``per_user`` per
  window (Stream: 60 per minute), with no per-second burst cap. A user's calls are counted under
  one key whatever platform its ``X-Stream-Client`` header claims: the header is the client's own
  word, and trusting it would let a client multiply its budget by rotating it. Server-side calls
  are never subject to user limits, as in Stream.
- **Per app** (off by default): Stream's per-app table, per endpoint and platform, per minute,
  with a burst cap of a thirtieth of the limit per second. Stream meters a shared SaaS by plan
  with it; on a self-hosted server the backend that holds the secret is trusted, so the table is
  only enforced when asked for (``app_scale`` set). Off, the app's calls are still counted and
  reported against Stream's table, so that headers and ``GET /rate_limits`` keep Stream's shape.

Counting is in fixed windows. With a Redis broker, the counts that can refuse a call (each
user's, and the app table's when it is enforced) are kept in Redis
(:mod:`hubbub.ratelimit_shared`), so the limits hold for the whole cluster, not per node; the
unenforced app counts, only reported, stay per node. With the memory broker everything is
counted in this process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hubbub import errors

if TYPE_CHECKING:
    from hubbub.ratelimit_shared import SharedCounter

#: Stream's documented per-minute limits per app and platform; others get ``DEFAULT_LIMIT``.
LIMITS: dict[str, int] = {
    "SendEvent": 10_000, "Connect": 10_000, "QueryChannels": 10_000,
    "GetOrCreateChannel": 10_000, "GetOrCreateDistinctChannel": 10_000, "GetApp": 10_000,
    "StopWatchingChannel": 1_000, "QueryUsers": 1_000, "CreateGuest": 1_000,
    "UpdateChannel": 300, "UpdateChannelPartial": 300, "UpdateUsers": 300,
    "UpdateUsersPartial": 300, "QueryMembers": 300,
    "CreateChannelType": 60, "UpdateChannelType": 60, "DeleteChannelType": 60,
    "GetChannelType": 60, "ListChannelTypes": 60, "UpdateApp": 60, "DeleteUser": 60,
    "DeleteChannel": 60, "SendUserCustomEvent": 10_000,
}
DEFAULT_LIMIT = 1_000
PLATFORMS = ("server_side", "web", "android", "ios")
APP_WINDOW_SECONDS = 60


def platform_of(request: web.Request, *, server: bool) -> str:
    if server:
        return "server_side"
    client = request.headers.get("X-Stream-Client", "").lower()
    if "android" in client:
        return "android"
    if "ios" in client or "swift" in client:
        return "ios"
    return "web"


@dataclass(frozen=True, slots=True)
class Verdict:
    limit: int
    remaining: int
    reset: int
    allowed: bool
    #: Seconds of the window ``limit`` counts over.
    window: int = APP_WINDOW_SECONDS


class _Window:
    """Fixed-window counters that forget everything when their window ends."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.index = 0
        self.counts: dict[tuple[str, ...], int] = {}

    def add(self, key: tuple[str, ...], now: float) -> int:
        self._roll(now)
        used = self.counts.get(key, 0) + 1
        self.counts[key] = used
        return used

    def used(self, key: tuple[str, ...], now: float) -> int:
        return self.counts.get(key, 0) if int(now // self.seconds) == self.index else 0

    def reset(self, now: float) -> int:
        return (int(now // self.seconds) + 1) * self.seconds

    def _roll(self, now: float) -> None:
        index = int(now // self.seconds)
        if index != self.index:
            self.index = index
            self.counts.clear()


class RateLimits:
    """Counts every call; refuses past a limit that is enforced.

    ``enabled=False`` counts and reports but never refuses (a master switch).
    ``per_user=0`` turns the per-user limit off. ``app_scale=None`` leaves the per-app table
    unenforced (still counted and reported at Stream's values)."""

    def __init__(self, *, enabled: bool = True, per_user: int = 60, user_window: int = 60,
                 app_scale: float | None = None, shared: SharedCounter | None = None) -> None:
        self.enabled = enabled
        #: Cluster-wide counters (Redis), or None to count in this process.
        self.shared = shared
        self.per_user = per_user
        self.app_scale = app_scale
        self._app_minute = _Window(APP_WINDOW_SECONDS)
        self._app_second = _Window(1)
        self._user_window = _Window(max(1, user_window))

    def limit_of(self, operation: str) -> int:
        return max(1, int(LIMITS.get(operation, DEFAULT_LIMIT) * (self.app_scale or 1.0)))

    async def _count(self, window: _Window, key: tuple[str, ...], now: float) -> int:
        """Count one call: cluster-wide when shared counters are configured (this process's
        window keeps its own count too, for reports and as the fallback)."""
        local = window.add(key, now)
        if self.shared is None:
            return local
        shared = await self.shared.add(key, window.seconds, now)
        return local if shared is None else shared

    async def _check_app(self, operation: str, platform: str, now: float) -> Verdict:
        key = (operation, platform)
        limit = self.limit_of(operation)
        if self.app_scale is None:  # reported only: this node's count will do
            used = self._app_minute.add(key, now)
            burst = self._app_second.add(key, now)
        else:
            used = await self._count(self._app_minute, key, now)
            burst = await self._count(self._app_second, key, now)
        allowed = self.app_scale is None or (
            used <= limit and burst <= max(1, math.ceil(limit / 30)))
        return Verdict(limit, max(limit - used, 0), self._app_minute.reset(now), allowed)

    async def _check_user(self, operation: str, user_id: str, now: float) -> Verdict:
        used = await self._count(self._user_window, (operation, user_id), now)
        return Verdict(self.per_user, max(self.per_user - used, 0),
                       self._user_window.reset(now), used <= self.per_user,
                       self._user_window.seconds)

    async def hit(self, operation: str, platform: str, user_id: str | None) -> Verdict:
        """Count one call against the app's table and, for a user's client-side call
        (``user_id`` given), the user's limit. The verdict reported is the user's when the app
        table is not enforced, else the tighter of the two; ``allowed`` is False past an
        enforced limit (never, when disabled)."""
        now = time.time()
        verdict = await self._check_app(operation, platform, now)
        if user_id is not None and self.per_user > 0 and verdict.allowed:
            user_verdict = await self._check_user(operation, user_id, now)
            if (self.app_scale is None or not user_verdict.allowed
                    or user_verdict.remaining < verdict.remaining):
                verdict = user_verdict
        if not self.enabled and not verdict.allowed:
            verdict = Verdict(verdict.limit, verdict.remaining, verdict.reset, True,
                              verdict.window)
        return verdict

    @staticmethod
    def refusal(operation: str, verdict: Verdict) -> errors.RateLimited:
        per = "minute" if verdict.window == 60 else f"{verdict.window} seconds"
        return errors.RateLimited(
            "Too many requests, check response headers for more information. "
            f"The limit for {operation} is {verdict.limit} per {per}")

    def peek(self, operation: str, platform: str) -> Verdict:
        """The app-wide count of ``operation`` on ``platform``, without counting a call."""
        now = time.time()
        limit = self.limit_of(operation)
        used = self._app_minute.used((operation, platform), now)
        return Verdict(limit, max(limit - used, 0), self._app_minute.reset(now), True)

    def report(self, query: Mapping[str, str]) -> dict[str, Any]:
        wanted = [p for p in PLATFORMS if query.get(p, "").lower() == "true"] or list(PLATFORMS)
        endpoints = [e for e in (query.get("endpoints") or "").split(",") if e] or sorted(LIMITS)
        out: dict[str, Any] = {}
        for platform in wanted:
            out[platform] = {}
            for name in endpoints:
                verdict = self.peek(name, platform)
                out[platform][name] = {"limit": verdict.limit, "remaining": verdict.remaining,
                                       "reset": verdict.reset}
        return out
