"""Rate limits in Stream's shape: per app and endpoint, and per user and endpoint for client-side
calls; lowercase ``x-ratelimit-*`` headers; 429 with code 9 past a limit; ``GET /rate_limits``.

Each limit is per minute, with a burst cap of a thirtieth of it per second (Stream's rule),
counted in fixed windows. Platforms (server side, web, android, ios) are counted apart, as Stream
does. Counters live in this process: with several processes each enforces its own share.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hubbub import errors

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


class _Window:
    """Fixed-window counters that forget everything when their window ends."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.index = 0
        self.counts: dict[tuple[str, ...], int] = {}

    def add(self, key: tuple[str, ...], now: float) -> int:
        index = int(now // self.seconds)
        if index != self.index:
            self.index = index
            self.counts.clear()
        used = self.counts.get(key, 0) + 1
        self.counts[key] = used
        return used

    def used(self, key: tuple[str, ...], now: float) -> int:
        return self.counts.get(key, 0) if int(now // self.seconds) == self.index else 0

    def reset(self, now: float) -> int:
        return (int(now // self.seconds) + 1) * self.seconds


class RateLimits:
    """``enabled=False`` counts and reports but never refuses."""

    def __init__(self, *, enabled: bool = True, per_user: int = 60, scale: float = 1.0) -> None:
        self.enabled = enabled
        self.per_user = per_user
        self.scale = scale
        self._minute = _Window(60)
        self._second = _Window(1)

    def limit_of(self, operation: str) -> int:
        return max(1, int(LIMITS.get(operation, DEFAULT_LIMIT) * self.scale))

    def _check(self, key: tuple[str, ...], limit: int, now: float) -> Verdict:
        used = self._minute.add(key, now)
        burst = self._second.add(key, now)
        allowed = used <= limit and burst <= max(1, math.ceil(limit / 30))
        return Verdict(limit, max(limit - used, 0), self._minute.reset(now), allowed)

    def hit(self, operation: str, platform: str, user_id: str | None) -> Verdict:
        """Count one call against the app's limit and, for a user, the user's. The verdict is
        the tighter of the two; ``allowed`` is False past either (never, when disabled)."""
        now = time.time()
        verdict = self._check(("app", operation, platform), self.limit_of(operation), now)
        if user_id is not None and verdict.allowed:
            user_verdict = self._check(("user", operation, platform, user_id),
                                       self.per_user, now)
            if not user_verdict.allowed or user_verdict.remaining < verdict.remaining:
                verdict = user_verdict
        if not self.enabled and not verdict.allowed:
            verdict = Verdict(verdict.limit, verdict.remaining, verdict.reset, True)
        return verdict

    @staticmethod
    def refusal(operation: str, verdict: Verdict) -> errors.RateLimited:
        return errors.RateLimited(
            "Too many requests, check response headers for more information. "
            f"The limit for {operation} is {verdict.limit} per minute")

    def peek(self, operation: str, platform: str) -> Verdict:
        now = time.time()
        limit = self.limit_of(operation)
        used = self._minute.used(("app", operation, platform), now)
        return Verdict(limit, max(limit - used, 0), self._minute.reset(now), True)

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
