"""Custom events: what a client may send, and the shape every recipient sees.

Pure functions. The server owns an event's envelope (``type`` aside): ``cid``, ``channel_id``,
``channel_type``, ``user`` and ``created_at`` are always set by the server, so a sender cannot
pose as another user, another channel or another time.
"""

from __future__ import annotations

from typing import Any

from hubbub import errors

#: Keys a sender cannot set: the server writes them (or they mean something to the SDKs).
SERVER_KEYS = frozenset({
    "type", "cid", "channel_id", "channel_type", "user", "user_id", "created_at", "received_at",
    "connection_id", "me", "watcher_count", "channel_member_count",
})
#: Built-in (dotted) event types clients may send to a channel, and the feature that gates each.
CLIENT_BUILTIN_EVENTS = {"typing.start": "typing_events", "typing.stop": "typing_events"}
MAX_TYPE_LENGTH = 64
#: Channel events that are not kept in history: they describe a moment (who types, who
#: watches, who is online) and are stale by the time a client that missed them comes back.
NOT_KEPT = frozenset({
    "typing.start", "typing.stop", "health.check", "user.presence.changed",
    "user.watching.start", "user.watching.stop",
})


def check_type(event_type: Any) -> str:
    if not isinstance(event_type, str) or not event_type.strip():
        raise errors.InputError("event.type is a required field")
    if len(event_type) > MAX_TYPE_LENGTH:
        raise errors.InputError(f"event.type must be at most {MAX_TYPE_LENGTH} characters")
    return event_type


def is_custom(event_type: str) -> bool:
    """Types containing a dot are reserved for built-in events."""
    return "." not in event_type


def custom_fields(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in SERVER_KEYS}


def channel_event(event_type: str, fields: dict[str, Any], *, channel_type: str,
                  channel_id: str, user: dict[str, Any] | None, created_at: str) -> dict[str, Any]:
    """A channel event as every watcher receives it (custom fields flat, envelope on top)."""
    out = dict(fields)
    out.update(type=event_type, cid=f"{channel_type}:{channel_id}", channel_id=channel_id,
               channel_type=channel_type, created_at=created_at)
    if user is not None:
        out["user"] = user
    return out


def user_event(event_type: str, fields: dict[str, Any], *, user: dict[str, Any],
               created_at: str) -> dict[str, Any]:
    """A custom event to one user: no ``cid`` (that is how clients tell it from channel events)."""
    out = dict(fields)
    out.update(type=event_type, user=user, created_at=created_at)
    return out
