"""Keeping the settings in memory current: the app, its channel types and custom roles.

They are read on every request, so they live in the :class:`Context`; :func:`fresh` reloads
them before a request when another process changed them (``settings`` invalidation, see
:mod:`hubbub.caches`), when the broker could not tell us (disconnected), or past the cache TTL.
"""

from __future__ import annotations

import asyncio
import time

from hubbub.service.shared.context import Context


async def load_settings(ctx: Context) -> None:
    """Load the app, the channel types, the custom roles and the custom commands from storage
    into the context."""
    caches, storage = ctx.caches, ctx.storage
    # Cleared first: an invalidation that arrives during the load marks them stale again.
    caches.settings_stale = False
    started = time.monotonic()
    commands_version = ctx.commands_version
    try:
        app = await storage.get_app()
        types = {ct.name: ct for ct in await storage.list_channel_types()}
        roles = {r["name"] for r in await storage.list_roles()}
        commands = {c.name: c for c in await storage.list_commands()}
    except BaseException:
        caches.settings_stale = True  # still to be done: the next request tries again
        raise
    if app is not None:
        ctx.app = app
    ctx.channel_types = types
    ctx.custom_roles = roles
    if commands_version == ctx.commands_version:  # else a newer change is in memory already
        ctx.commands = commands
    caches.settings_loaded = started


async def fresh(ctx: Context) -> None:
    """Make sure the settings in memory are current before serving a request: reload them
    when another process changed them, when they are older than the cache TTL, or while
    the broker cannot tell us about changes. Free in the steady state (one check)."""
    if not ctx.caches.settings_due():
        return
    task = ctx.reloading
    if task is None or task.done():
        task = ctx.reloading = asyncio.get_running_loop().create_task(load_settings(ctx))
    await asyncio.shield(task)
