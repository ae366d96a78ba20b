"""WebSocket connections: who connects, registering them with the hub, and health checks."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson

from hubbub import auth, errors
from hubbub.auth import Principal
from hubbub.core.models import USER_PROTECTED, USER_RESERVED, User, clone, parse_time, utcnow
from hubbub.hub import Connection
from hubbub.service.shared import presence
from hubbub.service.shared.context import Context
from hubbub.service.shared.reload import fresh
from hubbub.service.shared.users import SELF_UPDATE_KEEPS, user_from_object
from hubbub.service.shared.watching import after_unwatch


async def connect(ctx: Context, principal: Principal, details: dict[str, Any]) -> User:
    """Upsert the connecting user from ``user_details`` (never its protected fields) and
    mark it active. Returns the user as stored, with ``last_active`` now.

    A known user whose details change nothing is not written: its ``last_active`` is noted
    in memory (this process's cache shows it at once) and stored behind, in a batch (see
    :mod:`hubbub.service.shared.activity`). New users and changed details are written at once."""
    if principal.anonymous:
        return User(id=f"anon-{uuid.uuid4().hex[:12]}", role="anonymous")
    assert principal.user_id is not None
    detail_id = details.get("id", principal.user_id)
    if detail_id != principal.user_id:
        raise errors.NotAllowed(
            f"user_details.id {detail_id!r} does not match the token's user_id")
    # Authentication loaded it a moment ago (None: not stored yet, or not loaded).
    existing = principal.user or await ctx.users.get_one(principal.user_id)
    if existing is not None and existing.deleted_at:
        # Connecting never restores a deleted account (Stream: 404, code 16).
        raise errors.UserDeleted(f"the user {existing.id} was deleted")
    if existing is not None and existing.deactivated_at:
        raise errors.NotAllowed(f"user '{existing.id}' is deactivated")
    now = utcnow()
    safe = {k: v for k, v in details.items() if k not in USER_PROTECTED}
    if existing is not None and _repeats(existing, safe):
        user = existing  # the common reconnect: no need to rebuild and compare the user
    elif existing is not None:
        merged = {**existing.data, **{k: v for k, v in safe.items() if k != "id"}}
        user = user_from_object(ctx, {**merged, "id": existing.id}, existing, now,
                                allow_protected=False)
    else:
        user = user_from_object(ctx, {**safe, "id": principal.user_id}, None, now,
                                allow_protected=False)
    if existing is not None and (user is existing or clone(
            user, updated_at=existing.updated_at, last_active=existing.last_active) == existing):
        existing.last_active = now
        ctx.users.touch(existing.id, now)
        ctx.activity.note(existing.id, now)
        return existing
    user.last_active = now
    # The row keeps its stored role, ban, deactivation, deletion and revocation: one that
    # committed since the read above is not overwritten (check_still_allowed then sees it).
    await ctx.users.save([user], keep=SELF_UPDATE_KEEPS)
    return user


def _repeats(existing: User, details: dict[str, Any]) -> bool:
    """True when ``details`` (protected fields removed) only repeat what ``existing`` holds:
    its custom data, language and visibility. Other built-in fields make it False, and the
    full merge then decides."""
    data = existing.data
    for key, value in details.items():
        if key == "id":
            continue
        if key == "language":
            if value != existing.language:
                return False
        elif key == "invisible":
            if value != existing.invisible:
                return False
        elif key in USER_RESERVED or key not in data or data[key] != value:
            return False
    return True


async def check_still_allowed(ctx: Context, principal: Principal) -> None:
    """Refuse a registered connection whose user was deleted or deactivated, or whose token
    was revoked, while it was being set up.

    Reads the caches, which is enough and costs no storage round trip on a connect. Every
    change that refuses a connection is written (and its invalidation published) before its
    ``disconnect_user`` is published, on the same ordered broker stream, and this node
    applies invalidations as it reads them. So either the invalidation was applied before
    this check (the check reads the change: a cache miss loads it, the settings are
    reloaded by :func:`fresh`), or it was not, and then neither was the ``disconnect_user``
    behind it, which reaches this connection, registered by now. While the broker is down
    the caches are not trusted and this reads storage."""
    if principal.anonymous or principal.user_id is None:
        return
    await fresh(ctx)
    user = await ctx.users.get_one(principal.user_id)
    if user is not None and user.deleted_at:
        raise errors.UserDeleted(f"the user {user.id} was deleted")
    if user is not None and user.deactivated_at:
        raise errors.NotAllowed(f"user '{user.id}' is deactivated")
    auth.check_revoked(
        principal,
        app_revoked_before=parse_time(ctx.app_settings.get("revoke_tokens_issued_before")),
        user_revoked_before=parse_time(user.revoke_tokens_issued_before) if user else None)


async def register(ctx: Context, conn: Connection, user: User | None = None) -> None:
    """The connection receives events from now on, and counts as connected and online
    everywhere (announced to presence subscribers if it is the user's first anywhere).
    Recorded before the handshake frame goes out: once a client is greeted, every node
    counts it (user inboxes, watchers, ``online``)."""
    ctx.hub.add(conn)
    await presence.came_online(ctx, conn, user)


async def unregister(ctx: Context, conn: Connection) -> None:
    """Forget ``conn``: its watches end (announced), its user's ``last_active`` is noted,
    and it leaves the cluster-wide presence."""
    if not conn.anonymous:
        now = utcnow()
        ctx.users.touch(conn.user_id, now)
        ctx.activity.note(conn.user_id, now)
    for cid in ctx.hub.remove(conn):
        await after_unwatch(ctx, conn, cid)
    await presence.went_offline(ctx, conn)


#: Health checks go out in slices at least this far apart (one slice per hub slot).
HEALTH_TICK_MIN = 0.05
#: At most this many slices per interval (at the default 25 s: one slice every 0.25 s).
HEALTH_SLOTS_MAX = 100


def health_slots(interval: float) -> int:
    """How many slices one health-check interval is cut into (the hub's slot count)."""
    return max(1, min(HEALTH_SLOTS_MAX, int(interval / HEALTH_TICK_MIN)))


def health_check(conn: Connection, me: dict[str, Any] | None = None) -> bytes:
    """A ``health.check`` frame's payload for ``conn`` (the handshake's carries ``me``)."""
    if me is None:
        return _health_check_payload(conn.id, utcnow().encode())
    event: dict[str, Any] = {"type": "health.check", "connection_id": conn.id, "cid": "*",
                             "created_at": utcnow(), "me": me}
    return orjson.dumps(event)


def _health_check_payload(connection_id: str, created_at: bytes) -> bytes:
    # Built from a template: connection ids are UUIDs and the time is ours, nothing to escape.
    return (b'{"type":"health.check","connection_id":"' + connection_id.encode()
            + b'","cid":"*","created_at":"' + created_at + b'"}')


async def health_checks(ctx: Context) -> None:
    """A ``health.check`` to every connection once per interval: the JS SDK reconnects after
    35 s without an event, and its own ping cycle restarts on each health check.

    The hub deals connections into slots; one slot is served per tick (interval / slots), on
    ticks fixed from the start (so the period does not drift with the work done), which keeps
    each pass short and spreads the writes over the interval. A connection stays in its slot,
    so it gets one check per interval; the first comes within one interval of registering.
    """
    hub = ctx.hub
    slots = hub.health_slots
    tick = ctx.settings.health_check_interval / len(slots)
    loop = asyncio.get_running_loop()
    start = loop.time()
    k = 0
    while True:
        k += 1
        # Behind schedule (a stalled loop): serve the missed slots one per iteration.
        await asyncio.sleep(max(0.0, start + k * tick - loop.time()))
        slot = slots[k % len(slots)]
        if not slot:
            continue
        created_at = utcnow().encode()
        for conn in list(slot.values()):
            hub.write_many((conn,), _health_check_payload(conn.id, created_at))
