"""Users: upsert, partial update, query, delete, deactivate, restore, guests."""

from __future__ import annotations

import uuid
from typing import Any

from hubbub import auth, errors
from hubbub.auth import Principal
from hubbub.broker import Control
from hubbub.core import permissions
from hubbub.core.models import USER_PROTECTED, USER_RESERVED, User, parse_time, utcnow
from hubbub.core.validation import check_custom_size, check_id
from hubbub.schemas import PartialUpdateUsersRequest, QueryUsersRequest
from hubbub.service.shared import access, presence, tasks
from hubbub.service.shared.authentication import acting_user
from hubbub.service.shared.context import Context
from hubbub.service.shared.users import (
    SELF_UPDATE_KEEPS,
    check_teams,
    get_user,
    revoke_connections,
    user_from_object,
)

MAX_USERS_PER_CALL = 100


async def _only_self(ctx: Context, principal: Principal, ids: set[str]) -> None:
    """A client may update itself only."""
    acting = await acting_user(ctx, principal)
    if ids != {acting.id}:
        raise errors.NotAllowed(
            f"User '{acting.id}' with role '{acting.role}' is not allowed to perform "
            "action UpdateUser in scope '.app'")


async def upsert_users(ctx: Context, principal: Principal,
                       users_by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if len(users_by_id) > MAX_USERS_PER_CALL:
        raise errors.InputError(f"at most {MAX_USERS_PER_CALL} users can be upserted at once")
    for key, obj in users_by_id.items():
        if not isinstance(obj, dict):
            raise errors.InputError(f"users.{key} must be an object")
        if obj.get("id", key) != key:
            raise errors.InputError(f"users.{key}.id does not match its key")
    if principal.client_side:
        await _only_self(ctx, principal, set(users_by_id))
        (own,) = users_by_id.values()
        if any(own.get(k) is not None for k in USER_PROTECTED if k in own):
            raise errors.NotAllowed("a user cannot change its own role, teams or ban state")
    existing = await ctx.users.get(list(users_by_id))
    now = utcnow()
    batch = [user_from_object(ctx, {**obj, "id": key}, existing.get(key), now,
                              allow_protected=principal.server)
             for key, obj in users_by_id.items()]
    await ctx.users.save(batch, keep=frozenset() if principal.server else SELF_UPDATE_KEEPS)
    return {"users": {u.id: ctx.user_wire(u) for u in batch}}


async def partial_update_users(ctx: Context, principal: Principal,
                               request: PartialUpdateUsersRequest) -> dict[str, Any]:
    if len(request.users) > MAX_USERS_PER_CALL:
        raise errors.InputError(f"at most {MAX_USERS_PER_CALL} users can be updated at once")
    ids = [u.id for u in request.users]
    if principal.client_side:
        await _only_self(ctx, principal, set(ids))
        for u in request.users:
            if set(u.set or {}) & USER_PROTECTED or set(u.unset or []) & USER_PROTECTED:
                raise errors.NotAllowed(
                    "a user cannot change its own role, teams or ban state")
    existing = await ctx.users.get(ids)
    now = utcnow()
    out = []
    for update in request.users:
        user = existing.get(update.id)
        if user is None:
            raise errors.NotFound(f"user {update.id!r} does not exist")
        _apply_set(ctx, user, dict(update.set or {}))
        for key in update.unset or []:
            user.data.pop(key, None)
            if key == "revoke_tokens_issued_before":
                user.revoke_tokens_issued_before = None
            elif key == "teams":
                user.teams = []
            elif key == "teams_role":
                user.teams_role = {}
        check_custom_size(user.data, "user")
        user.updated_at = now
        out.append(user)
    await ctx.users.save(out, keep=frozenset() if principal.server else SELF_UPDATE_KEEPS)
    for update, user in zip(request.users, out, strict=True):
        if user.revoke_tokens_issued_before and "revoke_tokens_issued_before" in (
                update.set or {}):
            await revoke_connections(ctx, user.id, user.revoke_tokens_issued_before)
    return {"users": {u.id: ctx.user_wire(u) for u in out}}


def _apply_set(ctx: Context, user: User, to_set: dict[str, Any]) -> None:
    """Apply a partial update's ``set``: built-in fields checked one by one, the rest custom."""
    for key in ("id", "created_at", "updated_at", "last_active", "online"):
        to_set.pop(key, None)
    if "role" in to_set:
        role = to_set.pop("role")
        if not isinstance(role, str) or not ctx.known_role(role):
            raise errors.InputError(f"role {role!r} does not exist")
        user.role = role
    if "teams" in to_set or "teams_role" in to_set:
        teams, teams_role = to_set.pop("teams", None), to_set.pop("teams_role", None)
        check_teams(ctx, teams, teams_role)
        if teams is not None:
            user.teams = list(teams)
        if teams_role is not None:
            user.teams_role = dict(teams_role)
    for flag in ("invisible", "banned"):
        if flag in to_set:
            value = to_set.pop(flag)
            if not isinstance(value, bool):
                raise errors.InputError(f"{flag} must be a boolean")
            setattr(user, flag, value)
    if "language" in to_set:
        user.language = str(to_set.pop("language") or "")
    if "revoke_tokens_issued_before" in to_set:
        value = to_set.pop("revoke_tokens_issued_before")
        if value is not None and parse_time(str(value)) is None:
            raise errors.InputError("revoke_tokens_issued_before must be a timestamp")
        user.revoke_tokens_issued_before = value
    for key in USER_RESERVED:
        to_set.pop(key, None)
    user.data.update(to_set)


async def query_users(ctx: Context, principal: Principal, request: QueryUsersRequest,
                      connection_id: str | None = None) -> dict[str, Any]:
    """With ``presence: true`` (client-side, with the caller's ``connection_id``) the
    connection is sent the presence changes of the users found."""
    acting = None
    if principal.client_side:
        acting = await acting_user(ctx, principal)
        access.authorize_app(ctx, acting, permissions.SEARCH_USER)
    # Deleted (and, unless asked for, deactivated) users are left out in the query itself,
    # so that limit and offset count only the users that can be returned; so are, client-side
    # in a multi-tenant app, the users who share no team with the caller.
    hidden: dict[str, Any] = {"deleted_at": {"$exists": False}}
    if not request.include_deactivated_users:
        hidden["deactivated_at"] = {"$exists": False}
    scope = [hidden]
    if acting is not None:
        scope += [f for f in [access.visible_users(ctx, acting)] if f]
    # Stream's default order is newest first.
    sort = request.sort or [{"field": "created_at", "direction": -1}]
    found = await ctx.storage.query_users({"$and": [request.filter_conditions, *scope]},
                                          sort, request.limit, request.offset)
    if request.presence and acting is not None:
        await presence.subscribe(ctx, acting, connection_id, [u.id for u in found])
    return {"users": [ctx.user_wire(u) for u in found]}


async def delete_user(ctx: Context, user_id: str, *, hard: bool) -> dict[str, Any]:
    user = await get_user(ctx, user_id)
    wire = ctx.user_wire(user)
    await _delete(ctx, [user_id], hard=hard)
    if not hard:
        wire["deleted_at"] = utcnow()
    return {"user": wire}


async def _delete(ctx: Context, ids: list[str], *, hard: bool) -> None:
    if hard:
        await ctx.users.delete(ids)
    else:
        found = await ctx.users.get(ids)
        now = utcnow()
        for user in found.values():
            user.deleted_at = now
            user.updated_at = now
        await ctx.users.save(list(found.values()))
    for uid in ids:
        await ctx.broker.publish(Control("disconnect_user", {
            "user_id": uid, "code": 4000, "reason": "user was deleted"}))


async def delete_users(ctx: Context, ids: list[str], mode: str | None) -> dict[str, Any]:
    """Stream runs bulk deletes as a task; ours completes before the task is reported."""
    mode = mode or "soft"
    if mode not in ("soft", "hard", "pruning"):
        raise errors.InputError("user must be one of soft, hard, pruning")
    for uid in ids:
        check_id(uid, "user_ids[]")
    found = await ctx.users.get(ids)
    await _delete(ctx, [u for u in ids if u in found], hard=mode != "soft")
    task_id = await tasks.record_completed(ctx, "delete-users", {
        u: tasks.entry(None if u in found else f"user {u!r} does not exist") for u in ids})
    return {"task_id": task_id}


async def set_deactivated(ctx: Context, user_id: str, deactivated: bool) -> dict[str, Any]:
    user = await ctx.users.get_one(user_id)
    if user is None:
        raise errors.NotFound(f"user {user_id!r} does not exist")
    now = utcnow()
    user.deactivated_at = now if deactivated else None
    user.updated_at = now
    await ctx.users.save([user])
    if deactivated:
        await ctx.broker.publish(Control("disconnect_user", {
            "user_id": user_id, "code": 4000, "reason": "user was deactivated"}))
    return {"user": ctx.user_wire(user)}


async def set_many_deactivated(ctx: Context, ids: list[str],
                               deactivated: bool) -> dict[str, Any]:
    """Stream's batch (de)activation runs as a task; ours completes before the task is
    reported. Each id's entry in the task's ``result`` is ``{"status": "ok"}``, or an error
    entry for a user that does not exist (the others are changed all the same). A
    deactivated user's sockets are closed, on every node, as for a single deactivation."""
    for uid in ids:
        check_id(uid, "user_ids[]")
    found = await ctx.users.get(ids)
    now = utcnow()
    changed = list(found.values())
    for user in changed:
        user.deactivated_at = (user.deactivated_at or now) if deactivated else None
        user.updated_at = now
    await ctx.users.save(changed)
    if deactivated:
        for user in changed:
            await ctx.broker.publish(Control("disconnect_user", {
                "user_id": user.id, "code": 4000, "reason": "user was deactivated"}))
    result = {uid: tasks.entry(None if uid in found else f"user {uid!r} does not exist")
              for uid in ids}
    kind = "deactivate-users" if deactivated else "reactivate-users"
    return {"task_id": await tasks.record_completed(ctx, kind, result)}


async def restore_users(ctx: Context, ids: list[str]) -> dict[str, Any]:
    found = await ctx.users.get(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise errors.NotFound(f"users {missing} do not exist")
    now = utcnow()
    for user in found.values():
        user.deleted_at = None
        user.updated_at = now
    await ctx.users.save(list(found.values()))
    return {}


async def create_guest(ctx: Context, obj: dict[str, Any]) -> dict[str, Any]:
    assert ctx.app is not None
    if ctx.app_settings.get("guest_user_creation_disabled"):
        raise errors.NotAllowed("guest user creation is disabled for this app")
    user_id = obj.get("id") or f"guest-{uuid.uuid4()}"
    if not isinstance(user_id, str):
        raise errors.InputError("user.id must be a string")
    if await ctx.users.get_one(user_id) is not None:
        # Never hand out a token for an existing account: use a fresh guest id.
        user_id = f"{user_id}-{uuid.uuid4().hex[:8]}"
    now = utcnow()
    user = user_from_object(ctx, {**obj, "id": user_id}, None, now, allow_protected=False)
    user.role = "guest"
    await ctx.users.save([user])
    token = auth.create_token(ctx.app.api_secret, user.id)
    return {"access_token": token, "user": ctx.user_wire(user)}
