"""Point reads by primary key on SQLite, synchronously on the calling thread (the event loop).

Why: through SQLAlchemy async and aiosqlite, one point read costs ~800 us of the loop's time
(statement building, greenlet hops, a thread hop each way); ``sqlite3`` itself answers it in
~10 us, less than a single thread hop. For reads that small, waiting is dearer than doing.

Guarantees:
- only bounded reads come here: rows fetched by primary key, at most ``MAX_KEYS`` keys at once,
  so the loop is never held by a scan;
- a read sees every write committed before it started, by this process or another (one
  autocommit statement per read, on a database in WAL mode: readers never wait for the writer);
- the connection is read-only (``query_only``) and never waits on a lock (``busy_timeout`` 0):
  when SQLite answers busy or fails, the method returns None and the caller takes its usual
  asynchronous path, which waits and translates errors as every other call does;
- rows become the same models, field for field, as the SQLAlchemy path builds.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from hubbub.core.models import Channel, Member, User

#: Most keys one read may ask for (a larger batch goes the asynchronous way).
MAX_KEYS = 100

_USER = ("SELECT id, role, data, teams, language, invisible, banned, created_at, updated_at, "
         "last_active, deactivated_at, deleted_at, revoke_tokens_issued_before, teams_role "
         "FROM users ")
_CHANNEL = ("SELECT c.type, c.id, c.created_by_id, c.data, c.config_overrides, c.team, c.frozen, "
            "c.disabled, c.created_at, c.updated_at, c.last_message_at")
_CHANNEL_BY_CID = _CHANNEL + " FROM channels AS c WHERE c.cid = ?"
_CHANNEL_AND_MEMBER = (
    _CHANNEL + ", m.user_id, m.channel_role, m.created_at, m.updated_at FROM channels AS c "
    "LEFT OUTER JOIN members AS m ON m.cid = c.cid AND m.user_id = ? WHERE c.cid = ?")


def _user(row: tuple[Any, ...]) -> User:
    return User(id=row[0], role=row[1], data=json.loads(row[2]), teams=json.loads(row[3]),
                language=row[4], invisible=bool(row[5]), banned=bool(row[6]),
                created_at=row[7], updated_at=row[8], last_active=row[9],
                deactivated_at=row[10], deleted_at=row[11],
                revoke_tokens_issued_before=row[12], teams_role=json.loads(row[13]))


def _channel(row: tuple[Any, ...]) -> Channel:
    return Channel(type=row[0], id=row[1], created_by_id=row[2], data=json.loads(row[3]),
                   config_overrides=json.loads(row[4]), team=row[5], frozen=bool(row[6]),
                   disabled=bool(row[7]), created_at=row[8], updated_at=row[9],
                   last_message_at=row[10])


class SqlitePointReader:
    """A read-only ``sqlite3`` connection of its own to the database file at ``path``."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   cached_statements=32)
        self._db.execute("PRAGMA query_only=ON")
        self._db.execute("PRAGMA busy_timeout=0")

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error:
            return None

    def users(self, ids: list[str]) -> dict[str, User] | None:
        keys = tuple(dict.fromkeys(ids))
        if len(keys) > MAX_KEYS:
            return None
        rows = self._rows(_USER + f"WHERE id IN ({','.join('?' * len(keys))})", keys)
        return None if rows is None else {row[0]: _user(row) for row in rows}

    def channel(self, cid: str) -> tuple[Channel | None] | None:
        """``(channel,)``, ``(None,)`` when there is no such channel, None to fall back."""
        rows = self._rows(_CHANNEL_BY_CID, (cid,))
        if rows is None:
            return None
        return (_channel(rows[0]) if rows else None,)

    def channel_and_member(self, cid: str, user_id: str) -> tuple[
            Channel | None, Member | None] | None:
        rows = self._rows(_CHANNEL_AND_MEMBER, (user_id, cid))
        if rows is None:
            return None
        if not rows:
            return None, None
        row = rows[0]
        member = None
        if row[11] is not None:
            member = Member(cid=cid, user_id=row[11], channel_role=row[12], created_at=row[13],
                            updated_at=row[14])
        return _channel(row), member
