"""What the service layer needs from storage. One contract, two databases (SQLite, PostgreSQL).

Guarantees every implementation keeps:
- each method is atomic: it commits what it wrote before it returns, or writes nothing;
- driver exceptions never escape: they are translated to ``StorageError`` at the boundary;
- returned objects are fresh copies: callers may mutate them.
"""

from __future__ import annotations

from typing import Any, Protocol

from hubbub.core.models import App, Channel, ChannelType, Member, Task, User, WebhookDelivery


class StorageError(Exception):
    """The database failed (unreachable, constraint, timeout). Never the client's fault."""


class Storage(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema up to date (migrations)."""

    async def close(self) -> None: ...

    # app
    async def get_app(self) -> App | None: ...
    async def create_app(self, app: App) -> App:
        """Create the app unless one exists; return the one that is stored (race-safe)."""
    async def save_app_settings(self, settings: dict[str, Any]) -> None: ...

    # users
    async def get_users(self, ids: list[str]) -> dict[str, User]: ...
    async def save_users(self, users: list[User], *,
                         keep: frozenset[str] = frozenset()) -> None:
        """Insert or replace each user whole, except that an existing row keeps its values of
        the columns named in ``keep`` (so a client's own update never overwrites a
        deactivation, deletion or revocation that committed meanwhile)."""
    async def query_users(self, filter_conditions: Any, sort: Any, limit: int,
                          offset: int) -> list[User]: ...
    async def delete_users(self, ids: list[str]) -> None:
        """Hard delete: the users and their memberships."""
    async def touch_users(self, last_active: dict[str, str]) -> None:
        """Set ``last_active`` of each listed user that exists (nothing else is written;
        unknown ids are ignored)."""

    # channel types
    async def list_channel_types(self) -> list[ChannelType]: ...
    async def save_channel_type(self, channel_type: ChannelType) -> None: ...
    async def delete_channel_type(self, name: str) -> None: ...
    async def count_channels(self, channel_type: str) -> int: ...

    # channels and members
    async def get_channel(self, cid: str) -> Channel | None: ...
    async def get_channel_and_member(self, cid: str,
                                     user_id: str) -> tuple[Channel | None, Member | None]:
        """The channel and the user's membership in one round trip (the send-event hot path)."""
    async def create_channel(self, channel: Channel, members: list[Member]) -> bool:
        """Create the channel with its members; False if it already existed (nothing written)."""
    async def save_channel(self, channel: Channel) -> None: ...
    async def delete_channels(self, cids: list[str]) -> None: ...
    async def query_channels(self, filter_conditions: Any, sort: Any, limit: int,
                             offset: int) -> list[Channel]: ...
    async def get_members(self, cid: str, user_ids: list[str] | None = None) -> list[Member]: ...
    async def get_memberships(self, cids: list[str], user_id: str) -> dict[str, Member]:
        """The user's membership in each of ``cids`` that it is a member of, keyed by cid, in
        one round trip (a page of QueryChannels)."""
    async def query_members(self, cid: str, filter_conditions: Any, sort: Any, limit: int,
                            offset: int) -> list[Member]: ...
    async def count_members(self, cids: list[str]) -> dict[str, int]: ...
    async def save_members(self, members: list[Member]) -> None:
        """Insert or replace each membership."""
    async def remove_members(self, cid: str, user_ids: list[str]) -> None: ...
    async def count_role_uses(self, role: str) -> int:
        """How many users and memberships hold ``role``."""

    # roles
    async def list_roles(self) -> list[dict[str, str]]: ...
    async def create_role(self, name: str, now: str) -> bool: ...
    async def delete_role(self, name: str) -> bool: ...

    # tasks
    async def save_task(self, task: Task) -> None: ...
    async def get_task(self, task_id: str) -> Task | None: ...

    # webhook outbox
    async def enqueue_webhooks(self, batch: list[WebhookDelivery]) -> None:
        """Durably store new deliveries (committed when this returns)."""
    async def claim_due_webhooks(self, now: float, limit: int,
                                 lease_seconds: float) -> list[WebhookDelivery]:
        """Lease due pending deliveries for their timeout plus ``lease_seconds``; a delivery is
        held by one claimer at a time, and a crashed claimer's lease runs out by itself."""
    async def save_webhook_attempt(self, delivery: WebhookDelivery) -> None: ...
    async def list_webhooks(self, state: str | None, limit: int,
                            offset: int) -> list[WebhookDelivery]: ...
    async def requeue_dead_webhooks(self, ids: list[str] | None, now: float) -> int: ...
    async def count_webhooks(self) -> dict[str, int]: ...
