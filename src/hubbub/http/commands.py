"""Slash commands (server-side only): list, get, create, update, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubbub.http.base import Call, endpoint
from hubbub.schemas import CreateCommandRequest, UpdateCommandRequest
from hubbub.service.admin import commands

routes = web.RouteTableDef()


@routes.get("/commands")
@endpoint("ListCommands", server_only=True)
async def list_commands(call: Call) -> dict[str, Any]:
    return commands.list_commands(call.ctx)


@routes.post("/commands")
@endpoint("CreateCommand", status=201, server_only=True, body=CreateCommandRequest)
async def create_command(call: Call) -> dict[str, Any]:
    return await commands.create_command(call.ctx, call.data)


@routes.get("/commands/{name}")
@endpoint("GetCommand", server_only=True)
async def get_command(call: Call) -> dict[str, Any]:
    return commands.get_command(call.ctx, call.param("name"))


@routes.put("/commands/{name}")
@endpoint("UpdateCommand", status=201, server_only=True, body=UpdateCommandRequest)
async def update_command(call: Call) -> dict[str, Any]:
    return await commands.update_command(call.ctx, call.param("name"), call.data)


@routes.delete("/commands/{name}")
@endpoint("DeleteCommand", server_only=True)
async def delete_command(call: Call) -> dict[str, Any]:
    return await commands.delete_command(call.ctx, call.param("name"))
