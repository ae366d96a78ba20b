"""Who is connected, for user inboxes: a user event to a user with no connection anywhere is
kept in that user's inbox (see ``events.emit``) and handed out by ``/sync``.

:func:`is_connected` is the one question asked; swap its answer here (e.g. for a cluster-wide
presence) and nothing else changes. With one process the hub knows every connection; with a
Redis broker each node counts its connections per user in Redis (``history.redis``).
"""

from __future__ import annotations

from hubbub.service.context import Context


async def is_connected(ctx: Context, user_id: str) -> bool:
    """True if ``user_id`` holds a connection on this node or (cluster) on any live node."""
    if ctx.hub.is_online(user_id):
        return True
    if ctx.presence is not None:
        return await ctx.presence.is_online(user_id)
    return False


async def opened(ctx: Context, user_id: str) -> None:
    """A connection of ``user_id`` was registered here."""
    if ctx.presence is not None:
        await ctx.presence.change(user_id, 1)


async def closed(ctx: Context, user_id: str) -> None:
    """A connection of ``user_id`` was unregistered here."""
    if ctx.presence is not None:
        await ctx.presence.change(user_id, -1)
