"""Events: custom and typing events to a channel, custom events to a user, ``message.read``,
and :func:`emit`, the one way an event leaves a use case."""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import orjson

from hubbub import errors
from hubbub.auth import Principal
from hubbub.broker import BrokerError, Delivery
from hubbub.core import events, permissions
from hubbub.core.models import Channel, User, format_stamp, utcnow
from hubbub.history import History, HistoryError, stream_name
from hubbub.schemas import EventInput, MarkReadRequest
from hubbub.service import access, inbox
from hubbub.service.authentication import acting_user
from hubbub.service.context import Context
from hubbub.service.users import get_user, named_user
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


def _check_size(ctx: Context, raw_size: int) -> None:
    if raw_size > ctx.settings.max_event_bytes:
        raise errors.PayloadTooBig(
            f"event payload is {raw_size} bytes, more than the "
            f"{ctx.settings.max_event_bytes} bytes allowed")


async def send_channel_event(ctx: Context, principal: Principal, channel_type: str,
                             channel_id: str, event: EventInput,
                             raw_size: int) -> dict[str, Any]:
    """Deliver an event to every connection watching the channel, the sender's included.

    Order of checks: channel type and channel exist; the type is allowed (custom types
    need ``custom_events``, ``typing.*`` need ``typing_events``, other dotted types are
    refused); the sender is known (the token's user, or ``user``/``user_id`` server-side);
    the sender may send (client-side only). Only then is the event published.
    """
    event_type = events.check_type(event.type)
    _check_size(ctx, raw_size)
    if principal.server:
        if event.user is None and not event.user_id:
            raise errors.InputError(
                "either event.user or event.user_id must be provided when using server "
                "side auth.")
        if event.user is not None and event.user_id:
            raise errors.InputError("cannot set both event.user and event.user_id.")
    ct = ctx.channel_type(channel_type)
    if events.is_custom(event_type):
        action = permissions.SEND_CUSTOM_EVENT
        if not ct.feature("custom_events"):
            raise errors.EventNotSupported(
                f"Channel type {channel_type} does not support custom events")
        allowed = ct.config.get("allowed_custom_event_types")
        if allowed and event_type not in allowed:
            raise errors.EventNotSupported(
                f"Channel type {channel_type} does not accept custom events of type "
                f"{event_type!r}")
    elif event_type in events.CLIENT_BUILTIN_EVENTS:
        action = permissions.SEND_TYPING_EVENTS
        if not ct.feature(events.CLIENT_BUILTIN_EVENTS[event_type]):
            raise errors.EventNotSupported(
                f"Channel type {channel_type} does not support typing events")
    else:
        raise errors.EventNotSupported(
            f"event type {event_type} is not supported: types containing '.' are reserved "
            "for built-in events")
    if principal.server:
        sender = await named_user(ctx, event.user, event.user_id, "event")
        channel = await ctx.storage.get_channel(f"{channel_type}:{channel_id}")
        if channel is None:
            raise errors.NotFound(f"channel '{channel_type}:{channel_id}' does not exist")
    else:
        sender = await acting_user(ctx, principal)
        _, channel, member = await access.load_channel(ctx, channel_type, channel_id, sender)
        access.authorize(ctx, sender, action, ct, channel, member)
    if event_type in events.CLIENT_BUILTIN_EVENTS and not access.config_for(
            ct, channel).get("typing_events"):
        raise errors.EventNotSupported(f"channel {channel.cid} does not support typing events")
    fields = events.custom_fields(event.model_extra or {})
    if event.parent_id is not None:
        fields["parent_id"] = event.parent_id
    payload = events.channel_event(event_type, fields, channel_type=channel_type,
                                   channel_id=channel_id, user=ctx.user_wire(sender),
                                   created_at=utcnow())
    await emit(ctx, "channel", channel.cid, payload)
    return {"event": payload}


async def mark_read(ctx: Context, principal: Principal, channel_type: str, channel_id: str,
                    request: MarkReadRequest) -> dict[str, Any]:
    """Hubbub keeps no read state (it stores no messages); it answers as Stream does and
    tells the watchers with ``message.read`` when the type has ``read_events``."""
    if principal.server:
        reader = await named_user(ctx, request.user, request.user_id, "body")
        ct, channel, _ = await access.load_channel(ctx, channel_type, channel_id, None)
    else:
        reader = await acting_user(ctx, principal)
        ct, channel, member = await access.load_channel(ctx, channel_type, channel_id, reader)
        access.authorize(ctx, reader, permissions.READ_CHANNEL, ct, channel, member)
    fields = {"last_read_message_id": request.message_id} if request.message_id else {}
    payload = events.channel_event("message.read", fields, channel_type=channel_type,
                                   channel_id=channel_id, user=ctx.user_wire(reader),
                                   created_at=utcnow())
    if access.config_for(ct, channel).get("read_events"):
        await emit(ctx, "channel", channel.cid, payload)
    return {"event": payload}


async def send_user_event(ctx: Context, principal: Principal, user_id: str,
                          event: dict[str, Any], raw_size: int) -> dict[str, Any]:
    """Deliver a custom event to every connection of one user. Server-side only."""
    if principal.client_side:
        raise errors.NotAllowed(
            "send user custom event is only available with server-side authentication")
    event_type = events.check_type(event.get("type"))
    if not events.is_custom(event_type):
        raise errors.InputError(
            f"event type {event_type!r} contains '.', which is reserved for built-in events")
    _check_size(ctx, raw_size)
    target = await get_user(ctx, user_id)
    payload = events.user_event(event_type, events.custom_fields(event),
                                user=ctx.user_wire(target), created_at=utcnow())
    await emit(ctx, "user", target.id, payload)
    return {}
