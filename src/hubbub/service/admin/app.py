"""App settings and roles (server-side only)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from hubbub import errors
from hubbub.core import default_grants, permissions
from hubbub.core.models import parse_time, utcnow
from hubbub.core.validation import check_id
from hubbub.service.shared import access
from hubbub.service.shared.context import BUILTIN_ROLES, Context
from hubbub.service.shared.users import revoke_connections

MAX_CUSTOM_ROLES = 25
BOOLEAN_SETTINGS = ("disable_auth_checks", "disable_permissions_checks",
                    "guest_user_creation_disabled", "multi_tenant_enabled")


def get_app(ctx: Context) -> dict[str, Any]:
    settings = dict(ctx.app_settings)
    app_grants = settings.pop("grants", None) or default_grants.default_app_grants()
    types = sorted(ctx.channel_types.items())
    app = {
        **settings,
        "grants": {".app": app_grants, **{n: ct.grants for n, ct in types}},
        "channel_configs": {n: access.type_config(ct, ctx.commands) for n, ct in types},
        "policies": {},
    }
    return {"app": app}


def _checked_setting(key: str, value: Any, current: dict[str, Any]) -> Any:
    """``value`` for setting ``key`` once checked (400 for a wrong type)."""
    if key == "grants":
        if value is None:
            return None
        if not isinstance(value, dict):
            raise errors.InputError("grants must be an object of role to permissions")
        current_grants = current.get("grants") or default_grants.default_app_grants()
        return permissions.merge_grants(current_grants,
                                        value, default_grants.default_app_grants())
    if key in BOOLEAN_SETTINGS:
        if not isinstance(value, bool):
            raise errors.InputError(f"{key} must be a boolean")
    elif key == "revoke_tokens_issued_before":
        if value is not None and (not isinstance(value, str) or parse_time(value) is None):
            raise errors.InputError("revoke_tokens_issued_before must be a timestamp")
    elif key == "webhook_events":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise errors.InputError(f"{key} must be an array of strings")
    elif key == "event_hooks":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise errors.InputError("event_hooks must be an array of objects")
        return [{"id": h.get("id") or str(uuid.uuid4()), **h} for h in value]
    elif key == "enforce_unique_usernames":
        if value not in ("no", "app", "team"):
            raise errors.InputError("enforce_unique_usernames must be no, app or team")
    # Other settings are stored and shown but not acted on (push, uploads, ...).
    return value


async def update_app(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    assert ctx.app is not None
    updated = dict(ctx.app_settings)
    for key, value in body.items():
        updated[key] = _checked_setting(key, value, updated)
    await ctx.storage.save_app_settings(updated)
    ctx.app = replace(ctx.app, settings=updated)
    if body.get("revoke_tokens_issued_before"):
        # App-wide revocation: open sockets of every user whose token it covers close now.
        await revoke_connections(ctx, None, body["revoke_tokens_issued_before"])
    return {}


async def list_roles(ctx: Context) -> dict[str, Any]:
    stored = await ctx.storage.list_roles()
    builtin = [{"name": r, "custom": False, "scopes": [], "created_at": "",
                "updated_at": ""} for r in sorted(BUILTIN_ROLES)]
    custom = [{**r, "custom": True, "scopes": []} for r in stored]
    return {"roles": builtin + custom}


async def create_role(ctx: Context, name: str) -> dict[str, Any]:
    check_id(name, "name")
    if name in BUILTIN_ROLES:
        raise errors.InputError(f"role {name!r} is a built-in role")
    if len(ctx.custom_roles) >= MAX_CUSTOM_ROLES and name not in ctx.custom_roles:
        raise errors.InputError(f"an app can have at most {MAX_CUSTOM_ROLES} custom roles")
    now = utcnow()
    if not await ctx.storage.create_role(name, now):
        raise errors.InputError(f"role {name!r} already exists")
    ctx.custom_roles.add(name)
    return {"role": {"name": name, "custom": True, "scopes": [], "created_at": now,
                     "updated_at": now}}


async def delete_role(ctx: Context, name: str) -> dict[str, Any]:
    if name in BUILTIN_ROLES:
        raise errors.InputError(f"role {name!r} is a built-in role and cannot be deleted")
    if name not in ctx.custom_roles:
        raise errors.NotFound(f"role {name!r} does not exist")
    if await ctx.storage.count_role_uses(name):
        raise errors.InputError(f"role {name!r} is assigned to users or members")
    if any(name in ct.grants for ct in ctx.channel_types.values()):
        raise errors.InputError(f"role {name!r} has grants on a channel type")
    await ctx.storage.delete_role(name)
    ctx.custom_roles.discard(name)
    return {}
