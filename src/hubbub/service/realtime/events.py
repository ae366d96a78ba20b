"""Events: custom and typing events to a channel, custom events to a user, ``message.read``."""

from __future__ import annotations

from typing import Any

from hubbub import errors
from hubbub.auth import Principal
from hubbub.core import events, permissions
from hubbub.core.models import utcnow
from hubbub.schemas import EventInput, MarkReadRequest
from hubbub.service.shared import access
from hubbub.service.shared.authentication import acting_user
from hubbub.service.shared.context import Context
from hubbub.service.shared.emit import emit
from hubbub.service.shared.users import get_user, named_user


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
