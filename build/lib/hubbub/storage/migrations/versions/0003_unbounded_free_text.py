"""Free-text fields without a length limit: ``users.language`` and ``channels.team``.

Clients fill them with no limit enforced before storage. SQLite never enforces a VARCHAR length,
PostgreSQL does: a long value was stored on one and a 500 on the other. Both are TEXT now.
SQLite's tables are left as they are (the declared length means nothing there, and altering a
column would copy the table).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = [("users", "language", 16), ("channels", "team", 255)]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in COLUMNS:
        op.alter_column(table, column, type_=sa.Text(), existing_type=sa.String(length),
                        existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length in COLUMNS:
        op.alter_column(table, column, type_=sa.String(length), existing_type=sa.Text(),
                        existing_nullable=False)
