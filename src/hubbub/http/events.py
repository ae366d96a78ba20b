"""Custom events: to a channel's watchers, to one user's every connection; and ``/sync``,
the events a client missed."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubbub.http.base import Call, endpoint
from hubbub.schemas import SendEventRequest, SendUserEventRequest, SyncRequest
from hubbub.service.realtime import events, sync

routes = web.RouteTableDef()


def _event_size(call: Call) -> int:
    """Size of the event as sent: the body less the ``{"event":`` envelope."""
    return max(len(call.raw_body) - len('{"event":}'), 0)


@routes.post("/channels/{type}/{id}/event")
@endpoint("SendEvent", status=201, body=SendEventRequest)
async def send_channel_event(call: Call) -> dict[str, Any]:
    request = call.data
    return await events.send_channel_event(call.ctx, call.principal, call.param("type"),
                                           call.param("id"), request.event, _event_size(call))


@routes.post("/users/{user_id}/event")
@endpoint("SendUserCustomEvent", status=201, body=SendUserEventRequest)
async def send_user_event(call: Call) -> dict[str, Any]:
    return await events.send_user_event(call.ctx, call.principal, call.param("user_id"),
                                        call.body["event"], _event_size(call))


@routes.post("/sync")
@endpoint("Sync", status=201, body=SyncRequest)
async def sync_events(call: Call) -> dict[str, Any]:
    """The events of channels (and the caller's inbox) after ``last_sync_at``."""
    return await sync.sync(call.ctx, call.principal, call.data, call.connection_id)
