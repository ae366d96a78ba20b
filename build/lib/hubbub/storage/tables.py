"""The schema, as SQLAlchemy Core tables. Portable SQL: the same tables on SQLite and PostgreSQL.

Timestamps are RFC 3339 UTC text of fixed width (see ``core.models.utcnow``): they sort as text,
need no conversion on the way out, and mean the same on both databases. Custom data is JSON
(JSONB on PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")

apps = Table(
    "apps", metadata,
    Column("id", Integer, primary_key=True),
    Column("api_key", String(64), nullable=False, unique=True),
    Column("api_secret", String(128), nullable=False),
    Column("settings", Json, nullable=False),
    Column("created_at", String(32), nullable=False),
)

users = Table(
    "users", metadata,
    Column("id", String(255), primary_key=True),
    Column("role", String(64), nullable=False),
    Column("data", Json, nullable=False),
    Column("teams", Json, nullable=False),
    Column("language", Text, nullable=False, default=""),  # no limit: see migration 0003
    Column("invisible", Boolean, nullable=False, default=False),
    Column("banned", Boolean, nullable=False, default=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("last_active", String(32)),
    Column("deactivated_at", String(32)),
    Column("deleted_at", String(32)),
    Column("revoke_tokens_issued_before", String(32)),
)
Index("ix_users_role", users.c.role)

channel_types = Table(
    "channel_types", metadata,
    Column("name", String(64), primary_key=True),
    Column("config", Json, nullable=False),
    Column("grants", Json, nullable=False),
    Column("commands", Json, nullable=False),
    Column("builtin", Boolean, nullable=False, default=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

channels = Table(
    "channels", metadata,
    Column("cid", String(130), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("created_by_id", String(255)),
    Column("data", Json, nullable=False),
    Column("config_overrides", Json, nullable=False),
    Column("team", Text, nullable=False, default=""),  # no limit: see migration 0003
    Column("frozen", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("last_message_at", String(32)),
)
Index("ix_channels_type", channels.c.type)

members = Table(
    "members", metadata,
    Column("cid", String(130), primary_key=True),
    Column("user_id", String(255), primary_key=True),
    Column("channel_role", String(64), nullable=False),
    Column("invited", Boolean, nullable=False, default=False),
    Column("invite_accepted_at", String(32)),
    Column("invite_rejected_at", String(32)),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)
Index("ix_members_user_id", members.c.user_id)

roles = Table(
    "roles", metadata,
    Column("name", String(64), primary_key=True),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

tasks = Table(
    "tasks", metadata,
    Column("id", String(64), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("result", Json, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

#: The webhook outbox: written before the API answers, emptied by the sender (see webhooks/).
webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("event_type", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("timeout", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("lease_until", Float, nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("delivered_at", Float),
)
Index("ix_webhook_deliveries_due", webhook_deliveries.c.state,
      webhook_deliveries.c.next_attempt_at)
