"""Initial schema: apps, users, channel types, channels, members, roles, tasks.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(32), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("api_key", sa.String(64), nullable=False, unique=True),
        sa.Column("api_secret", sa.String(128), nullable=False),
        sa.Column("settings", Json, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("teams", Json, nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("invisible", sa.Boolean, nullable=False),
        sa.Column("banned", sa.Boolean, nullable=False),
        _ts("created_at"), _ts("updated_at"), _ts("last_active", True),
        _ts("deactivated_at", True), _ts("deleted_at", True),
        _ts("revoke_tokens_issued_before", True),
    )
    op.create_index("ix_users_role", "users", ["role"])
    op.create_table(
        "channel_types",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("config", Json, nullable=False),
        sa.Column("grants", Json, nullable=False),
        sa.Column("commands", Json, nullable=False),
        sa.Column("builtin", sa.Boolean, nullable=False),
        _ts("created_at"), _ts("updated_at"),
    )
    op.create_table(
        "channels",
        sa.Column("cid", sa.String(130), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created_by_id", sa.String(255)),
        sa.Column("data", Json, nullable=False),
        sa.Column("config_overrides", Json, nullable=False),
        sa.Column("team", sa.String(255), nullable=False),
        sa.Column("frozen", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        _ts("created_at"), _ts("updated_at"), _ts("last_message_at", True),
    )
    op.create_index("ix_channels_type", "channels", ["type"])
    op.create_table(
        "members",
        sa.Column("cid", sa.String(130), primary_key=True),
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("channel_role", sa.String(64), nullable=False),
        sa.Column("invited", sa.Boolean, nullable=False),
        _ts("invite_accepted_at", True), _ts("invite_rejected_at", True),
        _ts("created_at"), _ts("updated_at"),
    )
    op.create_index("ix_members_user_id", "members", ["user_id"])
    op.create_table(
        "roles",
        sa.Column("name", sa.String(64), primary_key=True),
        _ts("created_at"), _ts("updated_at"),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("result", Json, nullable=False),
        _ts("created_at"), _ts("updated_at"),
    )


def downgrade() -> None:
    for table in ("tasks", "roles", "members", "channels", "channel_types", "users", "apps"):
        op.drop_table(table)
