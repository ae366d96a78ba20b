"""Storage on SQLAlchemy Core (async): SQLite through aiosqlite, PostgreSQL through asyncpg.

One implementation for both databases: the queries are portable Core, and the two places where
the dialects differ (upsert, connection set-up) are chosen by dialect name (``engine.py``). On
a SQLite file, the point reads of the hot paths (users, a channel, a channel with one
membership) go through a synchronous reader of their own instead (``sqlite_reads.py``).

:class:`SqlStorage` is the one object the server holds; its methods come from one store per
resource, each a module of this package over the shared engine.
"""

from __future__ import annotations

from hubbub.storage.sql.app import AppStore
from hubbub.storage.sql.channels import ChannelStore
from hubbub.storage.sql.members import MemberStore
from hubbub.storage.sql.users import UserStore
from hubbub.storage.sql.webhooks import WebhookStore


class SqlStorage(AppStore, UserStore, ChannelStore, MemberStore, WebhookStore):
    """:class:`~hubbub.storage.base.Storage` over SQLite or PostgreSQL."""
