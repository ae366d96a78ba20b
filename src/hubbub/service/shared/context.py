"""What every use case works with: one :class:`Context` per running server.

The context holds the edges (settings, storage, broker, the hub of this process's connections)
and the small state that is read on every request and therefore kept in memory: the app and its
settings, the channel types, the custom roles, and the caches of users, channels and
memberships (:mod:`hubbub.caches`). Each is written through: a use case that changes one saves it
to storage and replaces it here, so this process never serves a stale value after its own write;
the storage facade then tells every other process (see :mod:`hubbub.caches`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from hubbub import errors
from hubbub.broker import Broker
from hubbub.caches import Caches
from hubbub.config import Settings
from hubbub.core import permissions
from hubbub.core.models import App, ChannelType, Command, User
from hubbub.history import History
from hubbub.hub import Hub
from hubbub.presence import Presence
from hubbub.service.shared.activity import ActivityRecorder
from hubbub.storage.base import Storage
from hubbub.storage.cached import Users
from hubbub.webhooks.sender import WebhookSender

BUILTIN_ROLES = frozenset(permissions.BUILTIN_USER_ROLES) | frozenset(
    permissions.BUILTIN_CHANNEL_ROLES)


@dataclass(eq=False)
class Context:
    settings: Settings
    storage: Storage
    broker: Broker
    hub: Hub
    users: Users
    caches: Caches
    presence: Presence
    #: ``last_active`` notes, stored behind in batches.
    activity: ActivityRecorder
    app: App | None = None
    channel_types: dict[str, ChannelType] = field(default_factory=dict)
    custom_roles: set[str] = field(default_factory=set)
    #: The app's custom slash commands by name (the built-ins are in ``core.defaults``).
    commands: dict[str, Command] = field(default_factory=dict)
    #: Bumped by every change of ``commands`` in memory and at the start of every load, so
    #: a load that finishes after a newer change does not overwrite it.
    commands_version: int = 0
    #: True when this start created the app (its credentials are printed once).
    created_credentials: bool = False
    webhooks: WebhookSender | None = None
    #: Tasks started by broker handlers (which are synchronous); kept so they are not
    #: garbage-collected mid-flight.
    background: set[asyncio.Task[None]] = field(default_factory=set)
    health_task: asyncio.Task[None] | None = None
    #: The settings reload in flight, if any (concurrent requests wait for the same one).
    reloading: asyncio.Task[None] | None = None
    activity_task: asyncio.Task[None] | None = None
    #: Recent events for ``/sync`` (None: history is switched off).
    history: History | None = None

    @property
    def app_settings(self) -> dict[str, Any]:
        assert self.app is not None
        return self.app.settings

    def channel_type(self, name: str) -> ChannelType:
        ct = self.channel_types.get(name)
        if ct is None:
            raise errors.NotFound(f"channel type {name!r} does not exist")
        return ct

    def known_role(self, role: str) -> bool:
        return role in BUILTIN_ROLES or role in self.custom_roles

    def user_wire(self, user: User) -> dict[str, Any]:
        return user.to_wire(online=self.presence.is_online(user.id))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task of its own (from synchronous broker handlers)."""
        task = asyncio.get_running_loop().create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
