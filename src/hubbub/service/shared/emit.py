"""The one way an event leaves a use case: :func:`emit` (history, the broker, then the webhook
copies), and :func:`publish_channel_event` for the built-in channel events."""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import orjson

from hubbub import errors
from hubbub.broker import BrokerError, Delivery
from hubbub.core import events
from hubbub.core.models import Channel, User, format_stamp, utcnow
from hubbub.history import History, HistoryError, stream_name
from hubbub.service.shared import inbox
from hubbub.service.shared.context import Context
from hubbub.webhooks.outbox import deliveries_for

log = logging.getLogger(__name__)


async def emit(ctx: Context, scope: Literal["channel", "user", "presence"], key: str,
               event: dict[str, Any], *, local_fallback: bool = False) -> None:
    """Record ``event`` in history; encode it once; hand it to the broker; then store its
    webhook copies.

    History first: a channel event (but the momentary ones, ``events.NOT_KEPT``) and a user
    custom event for a user with no connection are recorded, and the history sets ``created_at``
    (strictly increasing per channel or inbox, a cursor for ``/sync``); ``event`` is updated
    in place, so the caller's answer shows the same time. Recording before publishing means
    a client that watches, then syncs, finds every event either live or in history.
    Presence events are neither recorded nor copied to webhooks.

    The copies are committed before this returns, so an API call that answers 2xx has
    made its webhook copies durable: they survive a crash that happens after it.

    When the broker cannot take the event (Redis is down), what happens depends on who
    asked for it. An event a caller sent (the default) is refused as a whole: 503
    (:class:`errors.Unavailable`, retryable), delivered to nobody, no webhook copy. An event
    the server makes on its own (``local_fallback``: watching and presence announcements)
    still reaches this node's connections, and gets its webhook copies.
    """
    if ctx.history is not None and scope != "presence":
        await _record(ctx, ctx.history, scope, key, event)
    data = orjson.dumps(event)
    message = Delivery(scope, key, data)
    try:
        await ctx.broker.publish(message)
    except BrokerError as exc:
        if not local_fallback:
            raise errors.Unavailable(
                "the event broker is unavailable; nothing was sent, retry the call") from exc
        ctx.hub.handle(message)
    if scope == "presence":
        return
    copies = deliveries_for(ctx.app_settings, event["type"], data,
                            user_event=scope == "user",
                            default_timeout=ctx.settings.webhook_timeout)
    if copies:
        await ctx.storage.enqueue_webhooks(copies)
        if ctx.webhooks is not None:
            ctx.webhooks.notify()


async def _record(ctx: Context, history: History, scope: Literal["channel", "user"],
                  key: str, event: dict[str, Any]) -> None:
    if scope == "channel":
        if event["type"] in events.NOT_KEPT:
            return
    # Inboxes keep user custom events; built-in ones to a user (e.g.
    # notification.removed_from_channel) are what /sync works out for itself.
    elif not events.is_custom(event["type"]) or await inbox.is_connected(ctx, key):
        return
    # Stored without created_at, which the stamp gives back on reading.
    created_at = event.pop("created_at", None)
    try:
        stamp = await history.append(stream_name(scope, key), time.time_ns() // 1000,
                                     orjson.dumps(event))
    except HistoryError as exc:
        # Losing an event's history is better than losing the event: it still goes out.
        log.warning("history: cannot record a %s event for %s: %s", event["type"], key, exc)
        event["created_at"] = created_at or utcnow()
        return
    event["created_at"] = format_stamp(stamp)
    if scope == "user":
        history.counters.inboxed += 1
    else:
        history.counters.recorded += 1


async def publish_channel_event(ctx: Context, event_type: str, channel: Channel,
                                acting: User | None, fields: dict[str, Any]) -> None:
    """A built-in channel event (``channel.*``, ``member.*``) to the channel's watchers."""
    payload = events.channel_event(
        event_type, {k: v for k, v in fields.items() if k != "user"},
        channel_type=channel.type, channel_id=channel.id,
        user=fields.get("user") or (ctx.user_wire(acting) if acting else None),
        created_at=utcnow())
    await emit(ctx, "channel", channel.cid, payload)
