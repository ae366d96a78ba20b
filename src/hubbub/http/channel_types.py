"""Channel types (server-side only): features, settings and grants of each type."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubbub.http.base import Call, endpoint
from hubbub.schemas import ChannelTypeSettings
from hubbub.service.admin import channel_types

routes = web.RouteTableDef()


@routes.post("/channeltypes")
@endpoint("CreateChannelType", status=201, server_only=True, body=ChannelTypeSettings)
async def create_channel_type(call: Call) -> dict[str, Any]:
    return await channel_types.create_type(call.ctx, call.body)


@routes.get("/channeltypes")
@endpoint("ListChannelTypes", server_only=True)
async def list_channel_types(call: Call) -> dict[str, Any]:
    return channel_types.list_types(call.ctx)


@routes.get("/channeltypes/{name}")
@endpoint("GetChannelType", server_only=True)
async def get_channel_type(call: Call) -> dict[str, Any]:
    return channel_types.get_type(call.ctx, call.param("name"))


@routes.put("/channeltypes/{name}")
@endpoint("UpdateChannelType", status=201, server_only=True, body=ChannelTypeSettings)
async def update_channel_type(call: Call) -> dict[str, Any]:
    return await channel_types.update_type(call.ctx, call.param("name"), call.body)


@routes.delete("/channeltypes/{name}")
@endpoint("DeleteChannelType", server_only=True)
async def delete_channel_type(call: Call) -> dict[str, Any]:
    return await channel_types.delete_type(call.ctx, call.param("name"))
