"""Online status: a user's first connection anywhere in the cluster and their last one, told
as ``user.presence.changed`` to the connections that asked for it (``presence: true`` on a
channel query, ``queryChannels`` or ``queryUsers``).

Every node learns each transition through the broker (an ``online`` control message), so
``online`` in user objects answers the same through every node (:mod:`hubbub.presence`).
"""

from __future__ import annotations

from typing import Any

from hubbub.broker import BrokerError, Control
from hubbub.core.models import User, utcnow
from hubbub.hub import Connection
from hubbub.service.shared.context import Context
from hubbub.service.shared.emit import emit

#: Users one connection may follow the presence of.
MAX_SUBSCRIPTIONS = 5000


async def came_online(ctx: Context, conn: Connection, user: User | None) -> None:
    """A connection opened: record it; announce the user if it is their first anywhere."""
    if await ctx.presence.connected(conn.id, conn.user_id) and not conn.anonymous:
        await announce(ctx, conn.user_id, True, user)


async def went_offline(ctx: Context, conn: Connection) -> None:
    """A connection closed: forget it; announce the user if it was their last anywhere."""
    if await ctx.presence.disconnected(conn.id, conn.user_id) and not conn.anonymous:
        await announce(ctx, conn.user_id, False, None)


async def announce(ctx: Context, user_id: str, online: bool, user: User | None) -> None:
    """Tell every node's online mirror, then the presence subscribers. Invisible users are
    announced to nobody (Stream shows them offline)."""
    try:
        await ctx.broker.publish(Control("online", {"user_id": user_id, "online": online}))
    except BrokerError:
        pass  # this node's mirror is already current; the others resync after the outage
    if user is None:
        user = await ctx.users.get_one(user_id)
    if user is not None and user.invisible:
        return
    wire = user.to_wire(online=online) if user is not None else {"id": user_id,
                                                                 "online": online}
    await emit(ctx, "presence", user_id, {"type": "user.presence.changed", "user": wire,
                                          "created_at": utcnow()}, local_fallback=True)


def _owns(user_id: str, conn: Connection) -> bool:
    return conn.user_id == user_id


async def subscribe(ctx: Context, acting: User, connection_id: str | None,
                    user_ids: list[str]) -> None:
    """Send the presence changes of ``user_ids`` to one of ``acting``'s connections, on
    whichever node holds it."""
    if not connection_id or not user_ids:
        return
    conn = ctx.hub.get(connection_id)
    if conn is None:
        if ctx.broker.distributed:
            await ctx.broker.publish(Control("presence_subscribe", {
                "connection_id": connection_id, "user_id": acting.id,
                "user_ids": user_ids[:MAX_SUBSCRIPTIONS]}))
        return
    if _owns(acting.id, conn):
        ctx.hub.subscribe_presence(conn, user_ids, MAX_SUBSCRIPTIONS)


def remote_subscribe(ctx: Context, args: dict[str, Any]) -> None:
    """The broker's ``presence_subscribe`` handler: apply it if the connection is here."""
    conn = ctx.hub.get(str(args.get("connection_id", "")))
    ids = args.get("user_ids")
    if conn is not None and isinstance(ids, list) and _owns(str(args.get("user_id")), conn):
        ctx.hub.subscribe_presence(conn, [str(i) for i in ids], MAX_SUBSCRIPTIONS)


def remote_online(ctx: Context, args: dict[str, Any]) -> None:
    """The broker's ``online`` handler: keep this node's online mirror current."""
    ctx.presence.mark(str(args.get("user_id")), bool(args.get("online")))
