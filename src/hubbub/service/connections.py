"""WebSocket connections: who connects, registering them with the hub, and health checks."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson

from hubbub import auth, errors
from hubbub.auth import Principal
from hubbub.core.models import USER_PROTECTED, User, parse_time, utcnow
from hubbub.hub import Connection
from hubbub.service import inbox
from hubbub.service.context import Context
from hubbub.service.users import SELF_UPDATE_KEEPS, user_from_object
from hubbub.service.watching import after_unwatch


async def connect(ctx: Context, principal: Principal, details: dict[str, Any]) -> User:
    """Upsert the connecting user from ``user_details`` (never its protected fields) and
    mark it active. Returns the stored user."""
    if principal.anonymous:
        return User(id=f"anon-{uuid.uuid4().hex[:12]}", role="anonymous")
    assert principal.user_id is not None
    detail_id = details.get("id", principal.user_id)
    if detail_id != principal.user_id:
        raise errors.NotAllowed(
            f"user_details.id {detail_id!r} does not match the token's user_id")
    existing = await ctx.users.get_one(principal.user_id)
    if existing is not None and existing.deleted_at:
        # Connecting never restores a deleted account (Stream: 404, code 16).
        raise errors.UserDeleted(f"the user {existing.id} was deleted")
    if existing is not None and existing.deactivated_at:
        raise errors.NotAllowed(f"user '{existing.id}' is deactivated")
    now = utcnow()
    safe = {k: v for k, v in details.items() if k not in USER_PROTECTED}
    if existing is not None:
        merged = {**existing.data, **{k: v for k, v in safe.items() if k != "id"}}
        user = user_from_object(ctx, {**merged, "id": existing.id}, existing, now,
                                allow_protected=False)
    else:
        user = user_from_object(ctx, {**safe, "id": principal.user_id}, None, now,
                                allow_protected=False)
    user.last_active = now
    # The row keeps its stored role, ban, deactivation, deletion and revocation: one that
    # committed since the read above is not overwritten (check_still_allowed then sees it).
    await ctx.users.save([user], keep=SELF_UPDATE_KEEPS)
    return user


async def check_still_allowed(ctx: Context, principal: Principal) -> None:
    """Refuse a registered connection whose user was deleted or deactivated, or whose token
    was revoked, while it was being set up. Reads storage, not the cache: a change committed
    by another process must be seen even before its invalidation arrives here."""
    if principal.anonymous or principal.user_id is None:
        return
    user = (await ctx.storage.get_users([principal.user_id])).get(principal.user_id)
    if user is not None and user.deleted_at:
        raise errors.UserDeleted(f"the user {user.id} was deleted")
    if user is not None and user.deactivated_at:
        raise errors.NotAllowed(f"user '{user.id}' is deactivated")
    auth.check_revoked(
        principal,
        app_revoked_before=parse_time(ctx.app_settings.get("revoke_tokens_issued_before")),
        user_revoked_before=parse_time(user.revoke_tokens_issued_before) if user else None)


async def register(ctx: Context, conn: Connection) -> None:
    ctx.hub.add(conn)
    if not conn.anonymous:
        await inbox.opened(ctx, conn.user_id)


async def unregister(ctx: Context, conn: Connection) -> None:
    if not conn.anonymous:
        await inbox.closed(ctx, conn.user_id)
    for cid in ctx.hub.remove(conn):
        await after_unwatch(ctx, conn.user_id, cid)


def health_check(conn: Connection, me: dict[str, Any] | None = None) -> bytes:
    """A ``health.check`` frame's payload for ``conn`` (the handshake's carries ``me``)."""
    event: dict[str, Any] = {"type": "health.check", "connection_id": conn.id, "cid": "*",
                             "created_at": utcnow()}
    if me is not None:
        event["me"] = me
    return orjson.dumps(event)


async def health_checks(ctx: Context) -> None:
    """A ``health.check`` to every connection every interval: the JS SDK reconnects after
    35 s without an event, and its own ping cycle restarts on each health check."""
    interval = ctx.settings.health_check_interval
    while True:
        await asyncio.sleep(interval)
        for conn in list(ctx.hub.connections.values()):
            ctx.hub.write_many([conn], health_check(conn))
