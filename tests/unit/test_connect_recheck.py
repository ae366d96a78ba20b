"""Issue 12: a connect's last check (``check_still_allowed``) reads this node's caches, not
storage. It is safe because another node's change reaches this one as an invalidation
followed, on the same ordered broker stream, by its ``disconnect_user``: both orders in which
a connect can meet them are played here, deterministically, on a real service over SQLite
(no sockets: the race they stand for is too narrow to hit reliably over the wire)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hubbub import errors
from hubbub.auth import Principal
from hubbub.broker import Control
from hubbub.caches import INVALIDATE
from hubbub.core.models import User, utcnow
from hubbub.hub import Connection
from hubbub.service import Context
from hubbub.service.realtime import connections


class Socket:
    """Enough of an asyncio transport for the hub."""

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        pass


async def _cached_user(ctx: Context, user_id: str) -> User:
    now = utcnow()
    await ctx.users.save([User(id=user_id, created_at=now, updated_at=now)])
    user = await ctx.users.get_one(user_id)  # now held by this node's cache
    assert user is not None and ctx.caches.users.get(user_id)[0]
    return user


async def _deactivated_elsewhere(ctx: Context, user: User) -> None:
    """What another node's deactivation does to storage (this node's cache is not told)."""
    user.deactivated_at = user.updated_at = utcnow()
    await ctx.storage.inner.save_users([user])  # type: ignore[attr-defined]


def _from_the_other_node(ctx: Context, op: str, args: dict[str, Any]) -> None:
    ctx.hub.handle(Control(op, args))


def _connection(user_id: str, dropped: list[int]) -> Connection:
    return Connection(id=f"conn-{user_id}", user_id=user_id, transport=Socket(),  # type: ignore[arg-type]
                      on_drop=lambda code, reason: dropped.append(code))


async def test_messages_applied_before_registration_refuse_the_connect(ctx: Context) -> None:
    user = await _cached_user(ctx, "early")
    await _deactivated_elsewhere(ctx, user)
    # Both messages are read while the connect is still awaiting: nothing to disconnect yet.
    _from_the_other_node(ctx, INVALIDATE, {"kind": "users", "keys": ["early"], "origin": "b"})
    _from_the_other_node(ctx, "disconnect_user", {"user_id": "early", "code": 4000})
    dropped: list[int] = []
    conn = _connection("early", dropped)
    await connections.register(ctx, conn)
    with pytest.raises(errors.NotAllowed):
        await connections.check_still_allowed(ctx, Principal(user_id="early"))
    ctx.hub.remove(conn)


async def test_messages_applied_after_registration_disconnect_it(ctx: Context) -> None:
    user = await _cached_user(ctx, "late")
    await _deactivated_elsewhere(ctx, user)
    dropped: list[int] = []
    conn = _connection("late", dropped)
    await connections.register(ctx, conn)
    # The cache is still stale: the check lets it in...
    await connections.check_still_allowed(ctx, Principal(user_id="late"))
    # ...and the messages, read after it, close it.
    _from_the_other_node(ctx, INVALIDATE, {"kind": "users", "keys": ["late"], "origin": "b"})
    _from_the_other_node(ctx, "disconnect_user", {"user_id": "late", "code": 4000})
    await asyncio.sleep(0)
    assert dropped == [4000]
    ctx.hub.remove(conn)


async def test_an_app_wide_revocation_read_before_registration_refuses_it(
        ctx: Context) -> None:
    await _cached_user(ctx, "revoked")
    # Another node revoked every token (the settings are stored, then invalidated).
    app = await ctx.storage.get_app()
    assert app is not None
    settings = {**app.settings, "revoke_tokens_issued_before": utcnow()}
    await ctx.storage.inner.save_app_settings(settings)  # type: ignore[attr-defined]
    _from_the_other_node(ctx, INVALIDATE, {"kind": "settings", "keys": None, "origin": "b"})
    _from_the_other_node(ctx, "disconnect_user", {"user_id": None, "issued_before": 0})
    conn = _connection("revoked", [])
    await connections.register(ctx, conn)
    with pytest.raises(errors.TokenRevoked):
        await connections.check_still_allowed(ctx, Principal(user_id="revoked", issued_at=1.0))
    ctx.hub.remove(conn)
