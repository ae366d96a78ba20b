"""Users: upsert, partial update, query, delete, deactivate, guests, tasks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubbub.http.base import Call, endpoint
from hubbub.schemas import (
    DeactivateUsersRequest,
    DeleteUsersRequest,
    GuestRequest,
    PartialUpdateUsersRequest,
    QueryUsersRequest,
    ReactivateUsersRequest,
    RestoreUsersRequest,
    UpsertUsersRequest,
)
from hubbub.service.admin import users
from hubbub.service.shared import tasks

routes = web.RouteTableDef()


@routes.post("/users")
@endpoint("UpdateUsers", status=201, body=UpsertUsersRequest)
async def upsert_users(call: Call) -> dict[str, Any]:
    request = call.data
    return await users.upsert_users(call.ctx, call.principal, request.users)


@routes.patch("/users")
@endpoint("UpdateUsersPartial", body=PartialUpdateUsersRequest)
async def partial_update_users(call: Call) -> dict[str, Any]:
    request = call.data
    return await users.partial_update_users(call.ctx, call.principal, request)


@routes.get("/users")
@endpoint("QueryUsers", payload=QueryUsersRequest)
async def query_users(call: Call) -> dict[str, Any]:
    request = call.data
    return await users.query_users(call.ctx, call.principal, request, call.connection_id)


@routes.delete("/users/{user_id}")
@endpoint("DeleteUser", server_only=True)
async def delete_user(call: Call) -> dict[str, Any]:
    return await users.delete_user(call.ctx, call.param("user_id"),
                                          hard=call.query_bool("hard_delete"))


@routes.post("/users/delete")
@endpoint("DeleteUsers", status=201, server_only=True, body=DeleteUsersRequest)
async def delete_users(call: Call) -> dict[str, Any]:
    request = call.data
    return await users.delete_users(call.ctx, request.user_ids, request.user)


@routes.post("/users/restore")
@endpoint("RestoreUsers", status=201, server_only=True, body=RestoreUsersRequest)
async def restore_users(call: Call) -> dict[str, Any]:
    request = call.data
    return await users.restore_users(call.ctx, request.user_ids)


@routes.post("/users/deactivate")
@endpoint("DeactivateUsers", status=201, server_only=True, body=DeactivateUsersRequest)
async def deactivate_users(call: Call) -> dict[str, Any]:
    return await users.set_many_deactivated(call.ctx, call.data.user_ids, True)


@routes.post("/users/reactivate")
@endpoint("ReactivateUsers", status=201, server_only=True, body=ReactivateUsersRequest)
async def reactivate_users(call: Call) -> dict[str, Any]:
    return await users.set_many_deactivated(call.ctx, call.data.user_ids, False)


@routes.post("/users/{user_id}/deactivate")
@endpoint("DeactivateUser", status=201, server_only=True)
async def deactivate_user(call: Call) -> dict[str, Any]:
    return await users.set_deactivated(call.ctx, call.param("user_id"), True)


@routes.post("/users/{user_id}/reactivate")
@endpoint("ReactivateUser", status=201, server_only=True)
async def reactivate_user(call: Call) -> dict[str, Any]:
    return await users.set_deactivated(call.ctx, call.param("user_id"), False)


@routes.post("/guest")
@endpoint("CreateGuest", status=201, body=GuestRequest)
async def create_guest(call: Call) -> dict[str, Any]:
    request = call.data
    return await users.create_guest(call.ctx, request.user)


@routes.get("/tasks/{task_id}")
@endpoint("GetTask", server_only=True)
async def get_task(call: Call) -> dict[str, Any]:
    return await tasks.get_task(call.ctx, call.param("task_id"))


