"""Building, starting and stopping the server's :class:`Context`."""

from __future__ import annotations

import asyncio
import logging
import secrets

from hubbub.broker import Broker
from hubbub.caches import INVALIDATE, Caches
from hubbub.config import Settings
from hubbub.core import default_grants, defaults
from hubbub.core.models import App, ChannelType, utcnow
from hubbub.history import create_history
from hubbub.hub import Hub
from hubbub.presence import create_presence
from hubbub.service.admin import commands
from hubbub.service.realtime import connections
from hubbub.service.shared import presence, watching
from hubbub.service.shared.activity import ActivityRecorder
from hubbub.service.shared.context import Context
from hubbub.service.shared.reload import load_settings
from hubbub.storage.base import Storage, StorageError
from hubbub.storage.cached import CachedStorage, Users
from hubbub.webhooks.sender import WebhookSender

log = logging.getLogger(__name__)


def create_context(settings: Settings, storage: Storage, broker: Broker) -> Context:
    hub = Hub(write_limit=settings.ws_write_buffer_bytes,
              health_slots=connections.health_slots(settings.health_check_interval))
    caches = Caches(broker, size=settings.cache_size, ttl=settings.cache_ttl)
    cached = CachedStorage(storage, caches)
    ctx = Context(settings=settings, storage=cached, broker=broker,  # type: ignore[arg-type]
                  hub=hub, users=Users(cached), caches=caches,
                  presence=create_presence(settings.broker_url, caches.node,
                                           ttl=settings.presence_ttl),
                  activity=ActivityRecorder(
                      cached,  # type: ignore[arg-type]
                      interval=settings.last_active_flush_interval))
    # Another process wrote something this one caches: drop it here too (this process's
    # own writes go through the caches).
    hub.control_handlers[INVALIDATE] = caches.handle
    ctx.history = create_history(settings.broker_url, size=settings.history_size,
                                 ttl=settings.history_ttl)
    # A watch or stop-watching request that reached another process for a connection of
    # this one.
    hub.control_handlers["watch"] = lambda args: watching.remote_watch(ctx, args, True)
    hub.control_handlers["unwatch"] = lambda args: watching.remote_watch(ctx, args, False)
    # Another process changed the custom commands.
    hub.control_handlers["commands_changed"] = lambda args: commands.on_changed(ctx, args)
    hub.control_handlers["presence_subscribe"] = lambda args: presence.remote_subscribe(
        ctx, args)
    hub.control_handlers["online"] = lambda args: presence.remote_online(ctx, args)
    # A member was removed from a channel: its connections here stop watching it.
    hub.control_handlers["unwatch_user"] = lambda args: watching.remote_unwatch_user(ctx, args)
    return ctx


async def start(ctx: Context) -> None:
    """Open storage, create the app on first start (or check the configured credentials
    against the stored ones), load what is kept in memory, subscribe to the broker, start the
    webhook sender and the health checks."""
    settings, storage = ctx.settings, ctx.storage
    await storage.open()
    app = await storage.get_app()
    if app is None:
        key = settings.api_key or secrets.token_hex(8)
        secret = settings.api_secret or secrets.token_urlsafe(40)
        app = await storage.create_app(App(
            api_key=key, api_secret=secret, settings=dict(defaults.APP_SETTINGS),
            created_at=utcnow()))
        ctx.created_credentials = not (settings.api_key and settings.api_secret)
    elif settings.api_key and (settings.api_key, settings.api_secret) != (
            app.api_key, app.api_secret):
        raise SystemExit(
            "the database already holds an app with other credentials; start without "
            "--api-key/--api-secret, or with the stored ones, or use another database")
    stored_types = {ct.name: ct for ct in await storage.list_channel_types()}
    for name in defaults.BUILTIN_TYPES:
        if name not in stored_types:
            now = utcnow()
            ct = ChannelType(name=name, config=defaults.builtin_config(name),
                             grants=default_grants.default_channel_type_grants(name),
                             commands=list(defaults.ALL_COMMANDS), created_at=now,
                             updated_at=now, builtin=True)
            await storage.save_channel_type(ct)
    await load_settings(ctx)
    await ctx.broker.start(ctx.hub.handle, on_state=lambda up: broker_state(ctx, up))
    await ctx.presence.start(lambda user_id, online: ctx.spawn(
        presence.announce(ctx, user_id, online, None)))
    if ctx.history is not None:
        await ctx.history.start()
    ctx.webhooks = WebhookSender(
        storage, api_key=app.api_key, api_secret=app.api_secret,
        concurrency=settings.webhook_concurrency, horizon=settings.webhook_horizon)
    await ctx.webhooks.start()
    ctx.health_task = asyncio.create_task(connections.health_checks(ctx))
    ctx.activity_task = asyncio.create_task(ctx.activity.run())


def broker_state(ctx: Context, connected: bool) -> None:
    """The broker lost or regained its subscription: whatever is cached may have missed an
    invalidation (dropped, and not trusted until it is back); once back, this node's presence
    entries are registered again (a restarted Redis has lost them)."""
    ctx.caches.broker_state(connected)
    if connected:
        ctx.spawn(ctx.presence.resync())


async def stop(ctx: Context) -> None:
    if ctx.health_task is not None:
        ctx.health_task.cancel()
    if ctx.activity_task is not None:
        ctx.activity_task.cancel()
    # 1012 (service restart): not 1000, so the SDKs reconnect.
    ctx.hub.drop_all(1012, "server is shutting down")
    try:
        await ctx.activity.flush()
    except StorageError as exc:
        log.warning("last_active not stored at shutdown: %s", exc)
    if ctx.webhooks is not None:
        await ctx.webhooks.stop()
    await ctx.presence.close()
    await ctx.broker.close()
    if ctx.history is not None:
        await ctx.history.close()
    await ctx.storage.close()
