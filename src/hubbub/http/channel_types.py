"""Channel types (server-side only): features, settings and grants of each type."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubbub.http.base import Call, endpoint
from hubbub.schemas import ChannelTypeSettings

routes = web.RouteTableDef()


@routes.post("/channeltypes")
@endpoint("CreateChannelType", status=201, server_only=True, body=ChannelTypeSettings)
async def create_channel_type(call: Call) -> dict[str, Any]:
    return await call.service.create_channel_type(call.body)


@routes.get("/channeltypes")
@endpoint("ListChannelTypes", server_only=True)
async def list_channel_types(call: Call) -> dict[str, Any]:
    service = call.service
    return {"channel_types": {
        name: service.channel_type_response(ct, command_names=False)
        for name, ct in sorted(service.channel_types.items())}}


@routes.get("/channeltypes/{name}")
@endpoint("GetChannelType", server_only=True)
async def get_channel_type(call: Call) -> dict[str, Any]:
    ct = call.service.channel_type(call.param("name"))
    return call.service.channel_type_response(ct, command_names=False)


@routes.put("/channeltypes/{name}")
@endpoint("UpdateChannelType", status=201, server_only=True, body=ChannelTypeSettings)
async def update_channel_type(call: Call) -> dict[str, Any]:
    return await call.service.update_channel_type(call.param("name"), call.body)


@routes.delete("/channeltypes/{name}")
@endpoint("DeleteChannelType", server_only=True)
async def delete_channel_type(call: Call) -> dict[str, Any]:
    return await call.service.delete_channel_type(call.param("name"))
