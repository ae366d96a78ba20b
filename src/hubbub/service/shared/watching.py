"""Watching: which connection receives a channel's events, and the ``user.watching.*``
announcements.

A watch request may reach a process that does not hold the connection (several processes
behind a load balancer): it then goes through the broker to whichever process does, which
applies it and announces it. A request may act on its own connections only; an anonymous
request only on an anonymous connection opened from the same client address.

A connection watches at most ``ws_max_watched_channels`` channels (400, code 4 past it).
"""

from __future__ import annotations

from typing import Any

from hubbub import errors
from hubbub.broker import Control
from hubbub.core import events
from hubbub.core.models import Channel, ChannelType, User, utcnow
from hubbub.hub import Connection
from hubbub.service.shared.context import Context
from hubbub.service.shared.emit import emit


def watch_args(acting: User, connection_id: str, cid: str,
                address: str | None) -> dict[str, Any]:
    return {"connection_id": connection_id, "user_id": acting.id, "cid": cid,
            "anonymous": acting.role == "anonymous", "address": address}


def owns(user_id: str, anonymous: bool, conn: Connection, address: str | None) -> bool:
    """A request may act on its own connections only: nobody subscribes somebody else's
    socket by learning its id. Anonymous requests carry no identity, so an anonymous request
    is bound to the anonymous connections opened from its own client address."""
    if anonymous:
        return conn.anonymous and address is not None and conn.address == address
    return not conn.anonymous and conn.user_id == user_id


def _check_room(ctx: Context, conn: Connection, cid: str) -> None:
    cap = ctx.settings.ws_max_watched_channels
    if cid not in conn.watching and len(conn.watching) >= cap:
        raise errors.InputError(
            f"a connection can watch at most {cap} channels; stop watching some first")


async def watch(ctx: Context, acting: User, channel: Channel, ct: ChannelType,
                connection_id: str, address: str | None = None) -> None:
    """Subscribe one of ``acting``'s connections to the channel. Read access is checked by
    the caller. The connection may live on another node: then that node applies it.
    ``address``: an anonymous caller's client address."""
    conn = ctx.hub.get(connection_id)
    if conn is None:
        if ctx.broker.distributed:
            await ctx.broker.publish(Control("watch", watch_args(
                acting, connection_id, channel.cid, address)))
        return
    if not owns(acting.id, acting.role == "anonymous", conn, address):
        raise errors.InputError("connection_id does not belong to the requesting user")
    _check_room(ctx, conn, channel.cid)
    await _watch_here(ctx, conn, channel.cid, acting)


async def _watch_here(ctx: Context, conn: Connection, cid: str, user: User | None) -> None:
    """Subscribe a connection of this process; the user's first watch of the channel
    anywhere in the cluster tells the watchers (``user.watching.start``, with the
    cluster-wide ``watcher_count``) when the type has connect events."""
    if not ctx.hub.watch(conn, cid):
        return
    first = await ctx.presence.watch(cid, conn.id, conn.user_id)
    ct = ctx.channel_types.get(cid.partition(":")[0])
    if first and ct is not None and ct.feature("connect_events"):
        if user is None:
            user = await ctx.users.get_one(conn.user_id)
        await _announce(ctx, "user.watching.start", cid, conn.user_id, user)


async def _announce(ctx: Context, event_type: str, cid: str, user_id: str,
                    user: User | None) -> None:
    channel_type, _, channel_id = cid.partition(":")
    count, _ = await ctx.presence.watchers(cid)
    # Made by the server, not asked for: during a broker outage it still reaches this
    # node's watchers, and never fails the watch request.
    await emit(ctx, "channel", cid, events.channel_event(
        event_type, {"watcher_count": count},
        channel_type=channel_type, channel_id=channel_id,
        user=ctx.user_wire(user) if user else {"id": user_id}, created_at=utcnow()),
        local_fallback=True)


def remote_watch(ctx: Context, args: dict[str, Any], watching: bool) -> None:
    """The broker's ``watch``/``unwatch`` handler: apply it if the connection is here."""
    conn = ctx.hub.get(str(args.get("connection_id", "")))
    cid = args.get("cid")
    address = args.get("address")
    if conn is None or not isinstance(cid, str) or not owns(
            str(args.get("user_id")), bool(args.get("anonymous")), conn,
            address if isinstance(address, str) else None):
        return
    if watching:
        if cid not in conn.watching and len(conn.watching) >= ctx.settings.ws_max_watched_channels:
            return  # past the cap: the request was answered elsewhere; nothing to subscribe
        ctx.spawn(_watch_here(ctx, conn, cid, None))
    elif ctx.hub.unwatch(conn, cid):
        ctx.spawn(after_unwatch(ctx, conn, cid))


async def after_unwatch(ctx: Context, conn: Connection, cid: str) -> None:
    """A connection of this process stopped watching: if it was the user's last one
    anywhere, ``user.watching.stop`` when the type has connect events."""
    last = await ctx.presence.unwatch(cid, conn.id, conn.user_id)
    ct = ctx.channel_types.get(cid.partition(":")[0])
    if not last or ct is None or not ct.feature("connect_events"):
        return
    await _announce(ctx, "user.watching.stop", cid, conn.user_id,
                    await ctx.users.get_one(conn.user_id))


def remote_unwatch_user(ctx: Context, args: dict[str, Any]) -> None:
    """The broker's ``unwatch_user`` handler (a member was removed from a channel): every
    connection of that user on this node stops watching it at once."""
    cid, user_id = args.get("cid"), args.get("user_id")
    if not isinstance(cid, str) or not isinstance(user_id, str):
        return
    for conn in list(ctx.hub.by_user.get(user_id, {}).values()):
        if ctx.hub.unwatch(conn, cid):
            # Each leaves the cluster-wide presence; the last one announces the stop.
            ctx.spawn(after_unwatch(ctx, conn, cid))


def unwatch_everyone(ctx: Context, cid: str) -> None:
    """The channel is gone: nobody here watches it any more (nothing is announced)."""
    for conn in list(ctx.hub.watchers.get(cid, {}).values()):
        ctx.hub.unwatch(conn, cid)
        ctx.spawn(_forget_watch(ctx, conn, cid))


async def _forget_watch(ctx: Context, conn: Connection, cid: str) -> None:
    await ctx.presence.unwatch(cid, conn.id, conn.user_id)
