"""Plain data the core works on, and its shape on Stream's wire.

Custom data is kept in ``data`` and flattened next to the built-in fields on the wire, as Stream's
legacy API does; the built-in names are reserved so custom data can never shadow them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")


def utcnow() -> str:
    """Now as Stream writes timestamps: RFC 3339, UTC, microseconds. Sorts as text."""
    return format_stamp(time.time_ns() // 1000)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=64)
def _second(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def format_stamp(stamp: int) -> str:
    """A time in microseconds since the epoch as Stream writes times (RFC 3339, UTC,
    microseconds), in exact integer math. Runs at least once per event: the formatted second
    is cached (datetime's own formatting costs a few microseconds a call)."""
    seconds, micros = divmod(stamp, 1_000_000)
    return f"{_second(seconds)}.{micros:06d}Z"


#: One generated copy function per class (see :func:`clone`).
_COPIERS: dict[type, Callable[[Any], Any]] = {}


def _copier(cls: type) -> Callable[[Any], Any]:
    """A function that copies an instance of the dataclass ``cls`` field by field, generated
    once (as dataclasses generates ``__init__``): direct slot assignments run several times
    faster than :func:`dataclasses.replace` or a loop over the fields. Frozen classes are
    copied through their ``__init__``. Field names come from the class, never from input."""
    names = [f.name for f in fields(cls)]
    if cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        source = "def copy(o):\n    return cls(" + ", ".join(f"{n}=o.{n}" for n in names) + ")\n"
    else:
        source = ("def copy(o):\n    n = new(cls)\n"
                  + "".join(f"    n.{n} = o.{n}\n" for n in names) + "    return n\n")
    namespace: dict[str, Any] = {"cls": cls, "new": object.__new__}
    exec(source, namespace)  # noqa: S102 - source built from the class's own field names
    copy: Callable[[Any], Any] = namespace["copy"]
    _COPIERS[cls] = copy
    return copy


def clone(obj: T, **changes: Any) -> T:
    """A shallow copy of one of our dataclasses with ``changes`` applied: what
    :func:`dataclasses.replace` does for classes without ``__post_init__`` or init-only fields
    (all of ours), about five times faster. The caches hand out a copy on every read, so this
    is on the hot path of every request."""
    cls = type(obj)
    new: T = (_COPIERS.get(cls) or _copier(cls))(obj)
    for name, value in changes.items():
        object.__setattr__(new, name, value)
    return new


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


USER_RESERVED = frozenset({
    "id", "role", "created_at", "updated_at", "last_active", "online", "banned", "shadow_banned",
    "teams", "language", "invisible", "deactivated_at", "deleted_at", "revoke_tokens_issued_before",
    "blocked_user_ids", "devices", "mutes", "channel_mutes", "unread_count", "total_unread_count",
    "unread_channels", "unread_threads", "anon", "privacy_settings", "push_notifications", "teams_role",
})
#: User fields a client may not set on itself (through connect or a client-side upsert).
USER_PROTECTED = frozenset({"role", "teams", "banned", "shadow_banned", "revoke_tokens_issued_before",
                            "deactivated_at", "deleted_at", "teams_role", "created_at", "updated_at",
                            "last_active", "online"})


@dataclass(slots=True)
class User:
    id: str
    role: str = "user"
    data: dict[str, Any] = field(default_factory=dict)
    teams: list[str] = field(default_factory=list)
    #: The user's role inside each of its teams (``{"red": "admin"}``): in a channel of that
    #: team it replaces ``role`` when the app is multi-tenant.
    teams_role: dict[str, str] = field(default_factory=dict)
    language: str = ""
    invisible: bool = False
    banned: bool = False
    created_at: str = ""
    updated_at: str = ""
    last_active: str | None = None
    deactivated_at: str | None = None
    deleted_at: str | None = None
    revoke_tokens_issued_before: str | None = None

    def to_wire(self, *, online: bool = False) -> dict[str, Any]:
        wire: dict[str, Any] = dict(self.data)
        wire.update(
            id=self.id, role=self.role, created_at=self.created_at, updated_at=self.updated_at,
            banned=self.banned, online=online, invisible=self.invisible, language=self.language,
            teams=list(self.teams), shadow_banned=False, blocked_user_ids=[],
        )
        if self.teams_role:
            wire["teams_role"] = dict(self.teams_role)
        if self.last_active:
            wire["last_active"] = self.last_active
        if self.deactivated_at:
            wire["deactivated_at"] = self.deactivated_at
        if self.deleted_at:
            wire["deleted_at"] = self.deleted_at
        if self.revoke_tokens_issued_before:
            wire["revoke_tokens_issued_before"] = self.revoke_tokens_issued_before
        return wire

    def to_own_wire(self, *, online: bool = True) -> dict[str, Any]:
        """The ``me`` object of the WebSocket handshake: the user plus its own lists and counts."""
        wire = self.to_wire(online=online)
        wire.update(devices=[], mutes=[], channel_mutes=[], unread_count=0, total_unread_count=0,
                    unread_channels=0, unread_threads=0)
        return wire


CHANNEL_RESERVED = frozenset({
    "id", "type", "cid", "created_at", "updated_at", "deleted_at", "created_by", "created_by_id",
    "frozen", "disabled", "member_count", "config", "own_capabilities", "last_message_at", "hidden",
    "team", "cooldown", "truncated_at", "members", "config_overrides", "invites", "filter_tags",
})


@dataclass(slots=True)
class Channel:
    type: str
    id: str
    created_by_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    config_overrides: dict[str, Any] = field(default_factory=dict)
    team: str = ""
    frozen: bool = False
    disabled: bool = False
    created_at: str = ""
    updated_at: str = ""
    last_message_at: str | None = None

    @property
    def cid(self) -> str:
        return f"{self.type}:{self.id}"


@dataclass(slots=True)
class Member:
    cid: str
    user_id: str
    channel_role: str = "channel_member"
    created_at: str = ""
    updated_at: str = ""
    invited: bool = False
    invite_accepted_at: str | None = None
    invite_rejected_at: str | None = None

    def to_wire(self, user: User | None, *, online: bool = False) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "user_id": self.user_id,
            "channel_role": self.channel_role,
            "role": "moderator" if self.channel_role == "channel_moderator" else "member",
            "is_moderator": self.channel_role == "channel_moderator",
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "banned": False,
            "shadow_banned": False,
            "notifications_muted": False,
            "status": "member",
        }
        if user is not None:
            wire["user"] = user.to_wire(online=online)
        if self.invited:
            wire["invited"] = True
        if self.invite_accepted_at:
            wire["invite_accepted_at"] = self.invite_accepted_at
        if self.invite_rejected_at:
            wire["invite_rejected_at"] = self.invite_rejected_at
        return wire


@dataclass(slots=True)
class ChannelType:
    """A channel type: its feature flags and settings (``config``) and its grants."""

    name: str
    config: dict[str, Any]
    grants: dict[str, list[str]]
    commands: list[str]
    created_at: str = ""
    updated_at: str = ""
    builtin: bool = False

    def feature(self, flag: str) -> bool:
        return bool(self.config.get(flag, False))


@dataclass(slots=True)
class Command:
    """A slash command a channel type may offer: Stream's built-ins and the app's own."""

    name: str
    description: str = ""
    args: str = ""
    set: str = ""
    created_at: str = ""
    updated_at: str = ""

    def to_wire(self) -> dict[str, str]:
        wire = {"name": self.name, "description": self.description, "args": self.args,
                "set": self.set}
        if self.created_at:
            wire.update(created_at=self.created_at, updated_at=self.updated_at)
        return wire


@dataclass(slots=True)
class App:
    api_key: str
    api_secret: str
    settings: dict[str, Any]
    created_at: str = ""


@dataclass(slots=True)
class Task:
    id: str
    type: str
    status: str
    result: dict[str, Any]
    created_at: str
    updated_at: str


@dataclass(slots=True)
class WebhookDelivery:
    """One copy of one event for one receiver, kept until it is delivered or given up on.

    ``id`` is the ``X-Webhook-Id``: the same on every attempt, so receivers can de-duplicate.
    ``body`` is the exact JSON that is sent and signed.
    """

    id: str
    url: str
    body: str
    event_type: str
    state: str = "pending"  # pending | delivered | dead
    attempts: int = 0
    timeout: float = 6.0
    created_at: float = 0.0
    next_attempt_at: float = 0.0
    lease_until: float = 0.0
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: float | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "event_type": self.event_type,
                "state": self.state, "attempts": self.attempts, "created_at": self.created_at,
                "next_attempt_at": self.next_attempt_at, "last_status": self.last_status,
                "last_error": self.last_error, "delivered_at": self.delivered_at}
