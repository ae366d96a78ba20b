"""SQL storage (SQLite, PostgreSQL): :class:`SqlStorage` and its stores, one module per
resource. See ``storage.py``."""

from hubbub.storage.sql.engine import async_url
from hubbub.storage.sql.storage import SqlStorage

__all__ = ["SqlStorage", "async_url"]
