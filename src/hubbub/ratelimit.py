"""Request counting per endpoint and platform, in Stream's shape (``x-ratelimit-*`` headers,
``GET /rate_limits``).

Counts use fixed one-minute windows. This module counts and reports; refusing requests past the
limit (429, code 9) is not switched on yet.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

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


def platform_of(request: web.Request) -> str:
    client = request.headers.get("X-Stream-Client", "").lower()
    if "android" in client:
        return "android"
    if "ios" in client or "swift" in client:
        return "ios"
    auth = request.headers.get("Authorization", "")
    # Server tokens are the SDKs' constant {"server": true} JWT.
    if auth.startswith("eyJ") and ".eyJzZXJ2ZXIiOnRydWV9." in auth:
        return "server_side"
    return "web"


class RateLimits:
    def __init__(self) -> None:
        self._window = 0
        self._counts: dict[tuple[str, str], int] = {}

    def _roll(self) -> int:
        window = int(time.time() // 60)
        if window != self._window:
            self._window = window
            self._counts.clear()
        return window

    def count(self, request: web.Request) -> tuple[int, int, int]:
        """Count ``request``; return (limit, remaining, reset epoch seconds)."""
        window = self._roll()
        operation = request.get("operation") or "Other"
        key = (operation, platform_of(request))
        used = self._counts.get(key, 0) + 1
        self._counts[key] = used
        limit = LIMITS.get(operation, DEFAULT_LIMIT)
        return limit, max(limit - used, 0), (window + 1) * 60

    def report(self, query: Mapping[str, str]) -> dict[str, Any]:
        window = self._roll()
        wanted = [p for p in PLATFORMS if query.get(p, "").lower() == "true"] or list(PLATFORMS)
        endpoints = [e for e in (query.get("endpoints") or "").split(",") if e] or sorted(LIMITS)
        return {platform: {
            name: {"limit": LIMITS.get(name, DEFAULT_LIMIT),
                   "remaining": max(LIMITS.get(name, DEFAULT_LIMIT)
                                    - self._counts.get((name, platform), 0), 0),
                   "reset": (window + 1) * 60}
            for name in endpoints} for platform in wanted}
