"""Who is connected, for user inboxes: a user event to a user with no connection anywhere is
kept in that user's inbox (see ``emit.emit``) and handed out by ``/sync``.

:func:`is_connected` is the one question asked; swap its answer here (e.g. for a cluster-wide
presence) and nothing else changes. With one process the hub knows every connection; with a
Redis broker each node counts its connections per user in Redis (``history.redis``).
"""

from __future__ import annotations

from hubbub.service.shared.context import Context


async def is_connected(ctx: Context, user_id: str) -> bool:
    """True if ``user_id`` holds a connection on this node or (cluster) on any live node:
    asked of the cluster-wide presence registry (:mod:`hubbub.presence`), which every
    connection joins when it registers and leaves when it unregisters."""
    if ctx.hub.is_online(user_id):
        return True
    return await ctx.presence.connected_anywhere(user_id)
