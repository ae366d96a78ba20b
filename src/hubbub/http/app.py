"""App settings, permissions, roles, rate limits and the small endpoints the SDKs ping."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubbub import errors
from hubbub.core import permissions
from hubbub.http.base import RATE_LIMITS_KEY, Call, endpoint
from hubbub.schemas import CreateRoleRequest, UpdateAppRequest
from hubbub.service.admin import app as admin

routes = web.RouteTableDef()


@routes.get("/app")
@endpoint("GetApp", server_only=True)
async def get_app(call: Call) -> dict[str, Any]:
    return admin.get_app(call.ctx)


@routes.patch("/app")
@endpoint("UpdateApp", server_only=True, body=UpdateAppRequest)
async def update_app(call: Call) -> dict[str, Any]:
    return await admin.update_app(call.ctx, call.body)


@routes.get("/permissions")
@endpoint("ListPermissions", server_only=True)
async def list_permissions(call: Call) -> dict[str, Any]:
    return {"permissions": [p.to_wire() for p in permissions.PERMISSIONS.values()]}


@routes.get("/permissions/{id}")
@endpoint("GetPermission", server_only=True)
async def get_permission(call: Call) -> dict[str, Any]:
    found = permissions.PERMISSIONS.get(call.param("id"))
    if found is None:
        raise errors.NotFound(f"permission {call.param('id')!r} does not exist")
    return {"permission": found.to_wire()}


@routes.get("/roles")
@endpoint("ListRoles", server_only=True)
async def list_roles(call: Call) -> dict[str, Any]:
    return await admin.list_roles(call.ctx)


@routes.post("/roles")
@endpoint("CreateRole", status=201, server_only=True, body=CreateRoleRequest)
async def create_role(call: Call) -> dict[str, Any]:
    return await admin.create_role(call.ctx, call.data.name)


@routes.delete("/roles/{name}")
@endpoint("DeleteRole", server_only=True)
async def delete_role(call: Call) -> dict[str, Any]:
    return await admin.delete_role(call.ctx, call.param("name"))


@routes.get("/rate_limits")
@endpoint("GetRateLimits", server_only=True)
async def get_rate_limits(call: Call) -> dict[str, Any]:
    return call.request.app[RATE_LIMITS_KEY].report(call.request.query)
