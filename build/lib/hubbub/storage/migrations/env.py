"""Alembic environment. Hubbub runs migrations itself at start-up (``storage.sql.migrate``),
handing Alembic an open connection in ``config.attributes["connection"]``."""

from alembic import context

from hubbub.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
