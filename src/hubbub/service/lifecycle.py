"""Building, starting and stopping the server's :class:`Context`."""

from __future__ import annotations

import asyncio
import logging
import secrets

from hubbub.broker import Broker
from hubbub.config import Settings
from hubbub.core import defaults, permissions
from hubbub.core.models import App, ChannelType, utcnow
from hubbub.history import create_history
from hubbub.hub import Hub
from hubbub.service import connections, watching
from hubbub.service.activity import ActivityRecorder
from hubbub.service.context import Context
from hubbub.storage.base import Storage, StorageError
from hubbub.usercache import UserCache
from hubbub.webhooks.sender import WebhookSender

log = logging.getLogger(__name__)


def create_context(settings: Settings, storage: Storage, broker: Broker) -> Context:
    hub = Hub(write_limit=settings.ws_write_buffer_bytes,
              health_slots=connections.health_slots(settings.health_check_interval))
    ctx = Context(settings=settings, storage=storage, broker=broker, hub=hub,
                  users=UserCache(storage, broker),
                  activity=ActivityRecorder(
                      storage, interval=settings.last_active_flush_interval))
    ctx.history = create_history(settings.broker_url, size=settings.history_size,
                                 ttl=settings.history_ttl)
    if ctx.history is not None and broker.distributed:
        from hubbub.history.redis import RedisHistory, RedisPresence

        if isinstance(ctx.history, RedisHistory):
            ctx.presence = RedisPresence(ctx.history)
    # Another process changed users: drop them here too (this process's own writes go
    # through the cache).
    hub.control_handlers["invalidate_users"] = lambda args: ctx.users.forget(
        list(args.get("ids", [])))
    # A watch or stop-watching request that reached another process for a connection of
    # this one.
    hub.control_handlers["watch"] = lambda args: watching.remote_watch(ctx, args, True)
    hub.control_handlers["unwatch"] = lambda args: watching.remote_watch(ctx, args, False)
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
    ctx.app = app
    stored_types = {ct.name: ct for ct in await storage.list_channel_types()}
    for name in defaults.BUILTIN_TYPES:
        if name not in stored_types:
            now = utcnow()
            ct = ChannelType(name=name, config=defaults.builtin_config(name),
                             grants=permissions.default_channel_type_grants(name),
                             commands=list(defaults.ALL_COMMANDS), created_at=now,
                             updated_at=now, builtin=True)
            await storage.save_channel_type(ct)
            stored_types[name] = ct
    ctx.channel_types = stored_types
    ctx.custom_roles = {r["name"] for r in await storage.list_roles()}
    await ctx.broker.start(ctx.hub.handle)
    if ctx.history is not None:
        await ctx.history.start()
    if ctx.presence is not None:
        await ctx.presence.start()
    ctx.webhooks = WebhookSender(
        storage, api_key=app.api_key, api_secret=app.api_secret,
        concurrency=settings.webhook_concurrency, horizon=settings.webhook_horizon)
    await ctx.webhooks.start()
    ctx.health_task = asyncio.create_task(connections.health_checks(ctx))
    ctx.activity_task = asyncio.create_task(ctx.activity.run())


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
    await ctx.broker.close()
    if ctx.presence is not None:
        await ctx.presence.close()
    if ctx.history is not None:
        await ctx.history.close()
    await ctx.storage.close()
