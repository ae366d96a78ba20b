"""Custom slash commands, and each user's role per team (``teams_role``).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("args", sa.Text, nullable=False),
        sa.Column("set", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    # Existing users have no team roles: an empty object, written by the database itself.
    op.add_column("users", sa.Column("teams_role", Json, nullable=False,
                                     server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("teams_role")
    op.drop_table("commands")
