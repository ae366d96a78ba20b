"""Which receivers get a copy of which event, and the outbox rows that carry them.

Routing, from the app settings as the SDKs write them:

- ``event_hooks``: each enabled hook of ``hook_type`` ``webhook`` with a ``webhook_url``;
  ``event_types`` empty means every event except the high-volume presence ones (``typing.*``,
  ``user.watching.*``): list those explicitly to get them;
- the legacy ``webhook_url`` with ``webhook_events``, the same way;
- custom events to a user always go to every enabled hook, whatever its filter (a copy of a user
  event "is sent via web-hooks if it is enabled").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from hubbub.core.models import WebhookDelivery

DEFAULT_TIMEOUT = 6.0
#: Sent only to hooks that list them by name.
OPT_IN_PREFIXES = ("typing.", "user.watching.", "health.")


def _hooks(settings: dict[str, Any]) -> Iterator[tuple[str, list[str], float | None]]:
    """(url, event_types, timeout seconds or None) of every enabled webhook."""
    url = settings.get("webhook_url")
    if isinstance(url, str) and url:
        yield url, list(settings.get("webhook_events") or []), None
    for hook in settings.get("event_hooks") or []:
        if not isinstance(hook, dict) or hook.get("hook_type", "webhook") != "webhook":
            continue
        if hook.get("enabled") is False:
            continue
        hook_url = hook.get("webhook_url")
        if not isinstance(hook_url, str) or not hook_url:
            continue
        timeout_ms = hook.get("timeout_ms")
        timeout = timeout_ms / 1000 if isinstance(timeout_ms, (int, float)) and timeout_ms > 0 \
            else None
        yield hook_url, list(hook.get("event_types") or []), timeout


def wants(event_types: list[str], event_type: str, *, user_event: bool) -> bool:
    if user_event:
        return True
    if not event_types:
        return not event_type.startswith(OPT_IN_PREFIXES)
    return event_type in event_types or "*" in event_types


def deliveries_for(settings: dict[str, Any], event_type: str, body: bytes, *,
                   user_event: bool, default_timeout: float = DEFAULT_TIMEOUT,
                   now: float | None = None) -> list[WebhookDelivery]:
    """One outbox row per receiver that wants ``event_type`` (none when no hook is enabled)."""
    now = time.time() if now is None else now
    text = body.decode()
    return [
        WebhookDelivery(id=str(uuid.uuid4()), url=url, body=text, event_type=event_type,
                        timeout=timeout or default_timeout, created_at=now,
                        next_attempt_at=now)
        for url, event_types, timeout in _hooks(settings)
        if wants(event_types, event_type, user_event=user_event)
    ]
