"""Users as every use case finds, builds and disconnects them: the lookups (a stored user, the
user a server-side request names), a user built from its wire object, and closing a user's
connections on every node."""

from __future__ import annotations

from typing import Any

from hubbub import errors
from hubbub.broker import Control
from hubbub.core.models import USER_RESERVED, User, parse_time, utcnow
from hubbub.core.validation import check_custom_size, check_id, check_user_id
from hubbub.schemas import UserObject, parse
from hubbub.service.shared.context import Context

#: Stream: "A user can be a member of a maximum of 25 teams".
MAX_TEAMS = 25


def check_teams(ctx: Context, teams: Any, teams_role: Any) -> None:
    """``teams`` an array of at most 25 team names; ``teams_role`` an object of team name
    to an existing role. Either may be None (not given)."""
    if teams is not None:
        if not isinstance(teams, list) or not all(isinstance(t, str) and t for t in teams):
            raise errors.InputError("teams must be an array of team names")
        if len(teams) > MAX_TEAMS:
            raise errors.InputError(f"a user can be a member of at most {MAX_TEAMS} teams")
    if teams_role is not None:
        if not isinstance(teams_role, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in teams_role.items()):
            raise errors.InputError("teams_role must be an object of team name to role")
        for role in teams_role.values():
            if not ctx.known_role(role):
                raise errors.InputError(f"role {role!r} does not exist")


#: Columns a user's own write (connect, client-side upsert or update) never overwrites: a
#: deactivation, deletion, revocation or role change committed meanwhile stands.
SELF_UPDATE_KEEPS = frozenset({"role", "teams", "teams_role", "banned", "deactivated_at",
                               "deleted_at", "revoke_tokens_issued_before"})


def user_from_object(ctx: Context, obj: dict[str, Any], existing: User | None, now: str, *,
                     allow_protected: bool) -> User:
    """A user from its wire object, merged over ``existing``. Protected fields (role, teams)
    come from the object only when ``allow_protected`` (server-side)."""
    model = parse(UserObject, obj)
    uid = check_user_id(model.id, "user.id")
    data = {k: v for k, v in (model.model_extra or {}).items() if k not in USER_RESERVED}
    check_custom_size(data, "user")
    role = model.role if allow_protected and model.role else (
        existing.role if existing else "user")
    if not ctx.known_role(role):
        raise errors.InputError(f"role {role!r} does not exist")
    teams = (model.teams if allow_protected and model.teams is not None
             else (existing.teams if existing else []))
    teams_role = (model.teams_role if allow_protected and model.teams_role is not None
                  else (existing.teams_role if existing else {}))
    check_teams(ctx, teams, teams_role)
    return User(
        id=uid, role=role, data=data, teams=list(teams), teams_role=dict(teams_role),
        language=model.language if model.language is not None else (
            existing.language if existing else ""),
        invisible=model.invisible if model.invisible is not None else (
            existing.invisible if existing else False),
        banned=existing.banned if existing else False,
        created_at=existing.created_at if existing else now, updated_at=now,
        last_active=existing.last_active if existing else None,
        deactivated_at=existing.deactivated_at if existing else None,
        # An upsert never restores a deleted user: only restore_users does.
        deleted_at=existing.deleted_at if existing else None,
        revoke_tokens_issued_before=(existing.revoke_tokens_issued_before
                                     if existing else None))


async def revoke_connections(ctx: Context, user_id: str | None, cutoff: str) -> None:
    """Close, on every node, the open connections of ``user_id`` (None: of every user) whose
    token a revocation with ``cutoff`` covers (issued before it, or without ``iat``). The
    SDK's reconnect is then refused with code 42."""
    when = parse_time(cutoff)
    if when is None:
        return
    await ctx.broker.publish(Control("disconnect_user", {
        "user_id": user_id, "issued_before": when.timestamp(), "code": 4001,
        "reason": "token was revoked"}))


async def get_user(ctx: Context, user_id: str) -> User:
    """A stored, not deleted user; 404 otherwise."""
    user = await ctx.users.get_one(user_id)
    if user is None or user.deleted_at:
        raise errors.NotFound(f"user {user_id!r} does not exist")
    return user


async def named_user(ctx: Context, user: dict[str, Any] | None, user_id: str | None,
                     what: str) -> User:
    """The user a server-side request acts for: ``user_id`` must exist; a ``user`` object
    is upserted when it does not (as Stream does)."""
    if user_id:
        uid = check_id(user_id, f"{what}.user_id")
        found = await ctx.users.get_one(uid)
        if found is None:
            raise errors.NotFound(f"user {uid!r} does not exist")
        return found
    if user is None:
        raise errors.InputError(f"either {what}.user or {what}.user_id must be provided "
                                "when using server side auth.")
    uid = check_id(user.get("id"), f"{what}.user.id")
    found = await ctx.users.get_one(uid)
    if found is None:
        found = user_from_object(ctx, user, None, utcnow(), allow_protected=True)
        await ctx.users.save([found])
    return found


async def disconnect(ctx: Context, user_id: str, reason: str) -> None:
    """Close every connection of the user on every node (code 4000, as a deactivation does)."""
    if await ctx.users.get_one(user_id) is None:
        raise errors.NotFound(f"user {user_id!r} does not exist")
    await ctx.broker.publish(Control("disconnect_user", {
        "user_id": user_id, "code": 4000, "reason": reason}))
