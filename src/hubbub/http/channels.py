"""Channels: get-or-create (and watch), update, members, query, delete, stop watching."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubbub.http.base import Call, endpoint
from hubbub.schemas import (
    ChannelQueryRequest,
    DeleteChannelsRequest,
    MarkReadRequest,
    PartialUpdateChannelRequest,
    QueryChannelsRequest,
    QueryMembersRequest,
    UpdateChannelRequest,
)
from hubbub.service.chat import channels
from hubbub.service.realtime import events

routes = web.RouteTableDef()


@routes.post("/channels/{type}/query")
@endpoint("GetOrCreateDistinctChannel", status=201, body=ChannelQueryRequest)
async def get_or_create_distinct(call: Call) -> dict[str, Any]:
    request = call.data
    return await channels.get_or_create_channel(
        call.ctx, call.principal, call.param("type"), None, request, call.connection_id)


@routes.post("/channels/{type}/{id}/query")
@endpoint("GetOrCreateChannel", status=201, body=ChannelQueryRequest)
async def get_or_create(call: Call) -> dict[str, Any]:
    request = call.data
    return await channels.get_or_create_channel(
        call.ctx, call.principal, call.param("type"), call.param("id"), request, call.connection_id)


@routes.post("/channels/{type}/{id}")
@endpoint("UpdateChannel", status=201, body=UpdateChannelRequest)
async def update_channel(call: Call) -> dict[str, Any]:
    request = call.data
    return await channels.update_channel(call.ctx, call.principal, call.param("type"),
                                             call.param("id"), request)


@routes.patch("/channels/{type}/{id}")
@endpoint("UpdateChannelPartial", body=PartialUpdateChannelRequest)
async def partial_update_channel(call: Call) -> dict[str, Any]:
    request = call.data
    return await channels.partial_update_channel(call.ctx, call.principal, call.param("type"),
                                                     call.param("id"), request)


@routes.delete("/channels/{type}/{id}")
@endpoint("DeleteChannel")
async def delete_channel(call: Call) -> dict[str, Any]:
    return await channels.delete_channel(call.ctx, call.principal, call.param("type"),
                                             call.param("id"))


@routes.post("/channels/delete")
@endpoint("DeleteChannels", status=201, server_only=True, body=DeleteChannelsRequest)
async def delete_channels(call: Call) -> dict[str, Any]:
    request = call.data
    return await channels.delete_channels(call.ctx, request.cids)


@routes.post("/channels")
@endpoint("QueryChannels", status=201, body=QueryChannelsRequest)
async def query_channels(call: Call) -> dict[str, Any]:
    request = call.data
    return await channels.query_channels(call.ctx, call.principal, request, call.connection_id)


@routes.post("/channels/{type}/{id}/stop-watching")
@endpoint("StopWatchingChannel", status=201)
async def stop_watching(call: Call) -> dict[str, Any]:
    return await channels.stop_watching(call.ctx, call.principal, call.param("type"),
                                            call.param("id"), call.connection_id)


@routes.post("/channels/{type}/{id}/read")
@endpoint("MarkRead", status=201, body=MarkReadRequest)
async def mark_read(call: Call) -> dict[str, Any]:
    return await events.mark_read(call.ctx, call.principal, call.param("type"), call.param("id"),
                                        call.data)


@routes.post("/channels/read")
@endpoint("MarkAllRead", status=201)
async def mark_all_read(call: Call) -> dict[str, Any]:
    """Hubbub keeps no read state: accepted, nothing to change."""
    return {}


@routes.get("/members")
@endpoint("QueryMembers", payload=QueryMembersRequest)
async def query_members(call: Call) -> dict[str, Any]:
    request = call.data
    return await channels.query_members(call.ctx, call.principal, request)
