"""Use cases: what the API does, independent of HTTP and WebSocket.

Each use case follows one order: resolve (load what it acts on), validate (the input), authorize
(client-side requests only), act (write, then publish). Nothing is written or published before
every check has passed.

Caches: the app's settings, channel types and roles live in memory and are written through;
they are small and read on every request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
from dataclasses import replace
from typing import Any, Literal

import orjson

from hubbub import auth, errors
from hubbub.auth import Principal
from hubbub.broker import Broker, Control, Delivery
from hubbub.config import Settings
from hubbub.core import defaults, events, permissions
from hubbub.core.models import (
    CHANNEL_RESERVED,
    USER_PROTECTED,
    USER_RESERVED,
    App,
    Channel,
    ChannelType,
    Member,
    Task,
    User,
    parse_time,
    utcnow,
)
from hubbub.core.permissions import Subject
from hubbub.hub import Connection, Hub
from hubbub.schemas import (
    ChannelData,
    ChannelQueryRequest,
    EventInput,
    MarkReadRequest,
    MemberInput,
    PartialUpdateChannelRequest,
    PartialUpdateUsersRequest,
    QueryChannelsRequest,
    QueryMembersRequest,
    QueryUsersRequest,
    UpdateChannelRequest,
    UserObject,
    parse,
)
from hubbub.storage.base import Storage
from hubbub.usercache import UserCache
from hubbub.webhooks.outbox import deliveries_for
from hubbub.webhooks.sender import WebhookSender

log = logging.getLogger(__name__)

ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@_-!")
MAX_ID_LENGTH = 64
MAX_CUSTOM_DATA_BYTES = 5 * 1024
BUILTIN_ROLES = set(permissions.BUILTIN_USER_ROLES) | set(permissions.BUILTIN_CHANNEL_ROLES)


def check_id(value: Any, what: str, *, max_length: int = MAX_ID_LENGTH) -> str:
    if not isinstance(value, str) or not value:
        raise errors.InputError(f"{what} is a required field")
    if len(value) > max_length:
        raise errors.InputError(f"{what} must be at most {max_length} characters")
    if not set(value) <= ID_CHARS:
        raise errors.InputError(
            f"{what} {value!r} may only contain letters, digits and @ _ - !")
    return value


def check_custom_size(data: dict[str, Any], what: str) -> None:
    if len(orjson.dumps(data)) > MAX_CUSTOM_DATA_BYTES:
        raise errors.PayloadTooBig(f"{what} custom data must be less than 5KB")


def task_entry(error: str | None) -> dict[str, Any]:
    """One id's entry in a bulk task's ``result``, as Stream answers it (callers poll until
    ``result[id] == {"status": "ok"}``)."""
    return {"status": "ok"} if error is None else {"status": "error", "error": error}


def encode(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


class Service:
    """The application: storage, broker and hub behind the use cases the API exposes."""

    def __init__(self, settings: Settings, storage: Storage, broker: Broker) -> None:
        self.settings = settings
        self.storage = storage
        self.broker = broker
        self.hub = Hub(write_limit=settings.ws_write_buffer_bytes)
        self.users = UserCache(storage, broker)
        # Another process changed users: drop them here too (this process's own writes go
        # through the cache).
        self.hub.control_handlers["invalidate_users"] = lambda args: self.users.forget(
            list(args.get("ids", [])))
        # A watch or stop-watching request that reached another process for a connection of
        # this one.
        self.hub.control_handlers["watch"] = lambda args: self._remote_watch(args, True)
        self.hub.control_handlers["unwatch"] = lambda args: self._remote_watch(args, False)
        self._background: set[asyncio.Task[None]] = set()
        self.app: App | None = None
        self.channel_types: dict[str, ChannelType] = {}
        self.custom_roles: set[str] = set()
        self.created_credentials = False
        self._health_task: asyncio.Task[None] | None = None
        self.webhooks: WebhookSender | None = None

    # lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.storage.open()
        app = await self.storage.get_app()
        if app is None:
            key = self.settings.api_key or secrets.token_hex(8)
            secret = self.settings.api_secret or secrets.token_urlsafe(40)
            app = await self.storage.create_app(App(
                api_key=key, api_secret=secret, settings=dict(defaults.APP_SETTINGS),
                created_at=utcnow()))
            self.created_credentials = not (self.settings.api_key and self.settings.api_secret)
        elif self.settings.api_key and (self.settings.api_key, self.settings.api_secret) != (
                app.api_key, app.api_secret):
            raise SystemExit(
                "the database already holds an app with other credentials; start without "
                "--api-key/--api-secret, or with the stored ones, or use another database")
        self.app = app
        stored_types = {ct.name: ct for ct in await self.storage.list_channel_types()}
        for name in defaults.BUILTIN_TYPES:
            if name not in stored_types:
                now = utcnow()
                ct = ChannelType(name=name, config=defaults.builtin_config(name),
                                 grants=permissions.default_channel_type_grants(name),
                                 commands=list(defaults.ALL_COMMANDS), created_at=now,
                                 updated_at=now, builtin=True)
                await self.storage.save_channel_type(ct)
                stored_types[name] = ct
        self.channel_types = stored_types
        self.custom_roles = {r["name"] for r in await self.storage.list_roles()}
        await self.broker.start(self.hub.handle)
        self.webhooks = WebhookSender(
            self.storage, api_key=app.api_key, api_secret=app.api_secret,
            concurrency=self.settings.webhook_concurrency, horizon=self.settings.webhook_horizon)
        await self.webhooks.start()
        self._health_task = asyncio.create_task(self._health_checks())

    async def stop(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
        # 1012 (service restart): not 1000, so the SDKs reconnect.
        self.hub.drop_all(1012, "server is shutting down")
        if self.webhooks is not None:
            await self.webhooks.stop()
        await self.broker.close()
        await self.storage.close()

    @property
    def app_settings(self) -> dict[str, Any]:
        assert self.app is not None
        return self.app.settings

    # authentication ----------------------------------------------------------------------

    async def authenticate(self, api_key: str | None, token: str | None,
                           auth_type: str | None) -> Principal:
        """Who the request acts as. Unknown key first: nothing else happens for a wrong app."""
        assert self.app is not None
        if not api_key or not secrets.compare_digest(api_key, self.app.api_key):
            raise errors.BadApiKey(f'api_key not valid, api_key "{api_key or ""}" not found')
        if (auth_type or "").lower() == "anonymous" and not token:
            return Principal(anonymous=True, user_id=None)
        if not token:
            raise errors.AuthError(
                "missing authentication token: the Authorization header must carry a JWT")
        principal = auth.verify_token(
            token, self.app.api_secret, api_key=self.app.api_key,
            allow_dev_tokens=bool(self.app_settings.get("disable_auth_checks")))
        user_cutoff = None
        if principal.user_id is not None:
            stored = (await self.users.get([principal.user_id])).get(principal.user_id)
            user_cutoff = parse_time(stored.revoke_tokens_issued_before) if stored else None
            principal = replace(principal, user=stored)
        auth.check_revoked(
            principal,
            app_revoked_before=parse_time(self.app_settings.get("revoke_tokens_issued_before")),
            user_revoked_before=user_cutoff)
        return principal

    # users -------------------------------------------------------------------------------

    async def acting_user(self, principal: Principal) -> User:
        """The user a client-side request acts as (anonymous users are not stored)."""
        if principal.anonymous or principal.user_id is None:
            return User(id="anonymous", role="anonymous")
        user = principal.user or (await self.users.get([principal.user_id])).get(
            principal.user_id)
        if user is None:
            # A valid token for a user never upserted: Stream treats it as a plain user.
            now = utcnow()
            user = User(id=principal.user_id, created_at=now, updated_at=now)
        if user.deactivated_at:
            raise errors.NotAllowed(f"user '{user.id}' is deactivated")
        return user

    def user_wire(self, user: User) -> dict[str, Any]:
        return user.to_wire(online=self.hub.is_online(user.id))

    def _user_from_object(self, obj: dict[str, Any], existing: User | None, now: str, *,
                          allow_protected: bool) -> User:
        model = parse(UserObject, obj)
        uid = check_id(model.id, "user.id")
        data = {k: v for k, v in (model.model_extra or {}).items() if k not in USER_RESERVED}
        check_custom_size(data, "user")
        role = model.role if allow_protected and model.role else (
            existing.role if existing else "user")
        if role not in BUILTIN_ROLES and role not in self.custom_roles:
            raise errors.InputError(f"role {role!r} does not exist")
        teams = (model.teams if allow_protected and model.teams is not None
                 else (existing.teams if existing else []))
        return User(
            id=uid, role=role, data=data, teams=teams,
            language=model.language if model.language is not None else (
                existing.language if existing else ""),
            invisible=model.invisible if model.invisible is not None else (
                existing.invisible if existing else False),
            banned=existing.banned if existing else False,
            created_at=existing.created_at if existing else now, updated_at=now,
            last_active=existing.last_active if existing else None,
            deactivated_at=existing.deactivated_at if existing else None,
            deleted_at=None,
            revoke_tokens_issued_before=(existing.revoke_tokens_issued_before
                                         if existing else None))

    async def upsert_users(self, principal: Principal,
                           users_by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
        if len(users_by_id) > 100:
            raise errors.InputError("at most 100 users can be upserted at once")
        for key, obj in users_by_id.items():
            if not isinstance(obj, dict):
                raise errors.InputError(f"users.{key} must be an object")
            if obj.get("id", key) != key:
                raise errors.InputError(f"users.{key}.id does not match its key")
        if principal.client_side:
            acting = await self.acting_user(principal)
            if set(users_by_id) != {acting.id}:
                raise errors.NotAllowed(
                    f"User '{acting.id}' with role '{acting.role}' is not allowed to perform "
                    "action UpdateUser in scope '.app'")
            if any(users_by_id[acting.id].get(k) is not None
                   for k in USER_PROTECTED if k in users_by_id[acting.id]):
                raise errors.NotAllowed("a user cannot change its own role, teams or ban state")
        existing = await self.users.get(list(users_by_id))
        now = utcnow()
        batch = [self._user_from_object({**obj, "id": key}, existing.get(key), now,
                                        allow_protected=principal.server)
                 for key, obj in users_by_id.items()]
        await self.users.save(batch)
        return {"users": {u.id: self.user_wire(u) for u in batch}}

    async def partial_update_users(self, principal: Principal,
                                   request: PartialUpdateUsersRequest) -> dict[str, Any]:
        if len(request.users) > 100:
            raise errors.InputError("at most 100 users can be updated at once")
        ids = [u.id for u in request.users]
        if principal.client_side:
            acting = await self.acting_user(principal)
            if set(ids) != {acting.id}:
                raise errors.NotAllowed(
                    f"User '{acting.id}' with role '{acting.role}' is not allowed to perform "
                    "action UpdateUser in scope '.app'")
            for u in request.users:
                if set(u.set or {}) & USER_PROTECTED or set(u.unset or []) & USER_PROTECTED:
                    raise errors.NotAllowed(
                        "a user cannot change its own role, teams or ban state")
        existing = await self.users.get(ids)
        now = utcnow()
        out = []
        for update in request.users:
            user = existing.get(update.id)
            if user is None:
                raise errors.NotFound(f"user {update.id!r} does not exist")
            to_set = dict(update.set or {})
            for key in ("id", "created_at", "updated_at", "last_active", "online"):
                to_set.pop(key, None)
            if "role" in to_set:
                role = to_set.pop("role")
                if not isinstance(role, str) or (role not in BUILTIN_ROLES
                                                 and role not in self.custom_roles):
                    raise errors.InputError(f"role {role!r} does not exist")
                user.role = role
            if "teams" in to_set:
                teams = to_set.pop("teams")
                if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
                    raise errors.InputError("teams must be an array of strings")
                user.teams = teams
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
            for key in update.unset or []:
                user.data.pop(key, None)
                if key == "revoke_tokens_issued_before":
                    user.revoke_tokens_issued_before = None
            check_custom_size(user.data, "user")
            user.updated_at = now
            out.append(user)
        await self.users.save(out)
        return {"users": {u.id: self.user_wire(u) for u in out}}

    async def query_users(self, principal: Principal,
                          request: QueryUsersRequest) -> dict[str, Any]:
        if principal.client_side:
            acting = await self.acting_user(principal)
            self._authorize_app(acting, permissions.SEARCH_USER)
        # Deleted (and, unless asked for, deactivated) users are left out in the query itself,
        # so that limit and offset count only the users that can be returned.
        hidden: dict[str, Any] = {"deleted_at": {"$exists": False}}
        if not request.include_deactivated_users:
            hidden["deactivated_at"] = {"$exists": False}
        # Stream's default order is newest first.
        sort = request.sort or [{"field": "created_at", "direction": -1}]
        found = await self.storage.query_users({"$and": [request.filter_conditions, hidden]},
                                               sort, request.limit, request.offset)
        return {"users": [self.user_wire(u) for u in found]}

    async def get_user(self, user_id: str) -> User:
        user = (await self.users.get([user_id])).get(user_id)
        if user is None or user.deleted_at:
            raise errors.NotFound(f"user {user_id!r} does not exist")
        return user

    async def delete_user(self, user_id: str, *, hard: bool) -> dict[str, Any]:
        user = await self.get_user(user_id)
        wire = self.user_wire(user)
        await self._delete_users([user_id], hard=hard)
        if not hard:
            wire["deleted_at"] = utcnow()
        return {"user": wire}

    async def _delete_users(self, ids: list[str], *, hard: bool) -> None:
        if hard:
            await self.users.delete(ids)
        else:
            found = await self.users.get(ids)
            now = utcnow()
            for user in found.values():
                user.deleted_at = now
                user.updated_at = now
            await self.users.save(list(found.values()))
        for uid in ids:
            await self.broker.publish(Control("disconnect_user", {
                "user_id": uid, "code": 4000, "reason": "user was deleted"}))

    async def delete_users_task(self, ids: list[str], mode: str | None) -> dict[str, Any]:
        """Stream runs bulk deletes as a task; ours completes before the task is reported."""
        mode = mode or "soft"
        if mode not in ("soft", "hard", "pruning"):
            raise errors.InputError("user must be one of soft, hard, pruning")
        for uid in ids:
            check_id(uid, "user_ids[]")
        found = await self.users.get(ids)
        await self._delete_users([u for u in ids if u in found], hard=mode != "soft")
        return await self._completed_task("delete-users", {
            u: task_entry(None if u in found else f"user {u!r} does not exist") for u in ids})

    async def _completed_task(self, kind: str, result: dict[str, Any]) -> dict[str, Any]:
        """Store a task that is already done (ours complete before they are reported), with
        ``result`` in Stream's shape: one entry per id (see :func:`task_entry`)."""
        now = utcnow()
        task = Task(id=str(uuid.uuid4()), type=kind, status="completed", result=result,
                    created_at=now, updated_at=now)
        await self.storage.save_task(task)
        return {"task_id": task.id}

    async def get_task(self, task_id: str) -> dict[str, Any]:
        task = await self.storage.get_task(task_id)
        if task is None:
            raise errors.NotFound(f"task {task_id!r} does not exist")
        return {"task_id": task.id, "status": task.status, "result": task.result,
                "created_at": task.created_at, "updated_at": task.updated_at}

    async def set_deactivated(self, user_id: str, deactivated: bool) -> dict[str, Any]:
        user = (await self.users.get([user_id])).get(user_id)
        if user is None:
            raise errors.NotFound(f"user {user_id!r} does not exist")
        now = utcnow()
        user.deactivated_at = now if deactivated else None
        user.updated_at = now
        await self.users.save([user])
        if deactivated:
            await self.broker.publish(Control("disconnect_user", {
                "user_id": user_id, "code": 4000, "reason": "user was deactivated"}))
        return {"user": self.user_wire(user)}

    async def restore_users(self, ids: list[str]) -> dict[str, Any]:
        found = await self.users.get(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise errors.NotFound(f"users {missing} do not exist")
        now = utcnow()
        for user in found.values():
            user.deleted_at = None
            user.updated_at = now
        await self.users.save(list(found.values()))
        return {}

    async def create_guest(self, principal: Principal, obj: dict[str, Any]) -> dict[str, Any]:
        assert self.app is not None
        if self.app_settings.get("guest_user_creation_disabled"):
            raise errors.NotAllowed("guest user creation is disabled for this app")
        user_id = obj.get("id") or f"guest-{uuid.uuid4()}"
        if not isinstance(user_id, str):
            raise errors.InputError("user.id must be a string")
        existing = (await self.users.get([user_id])).get(user_id)
        if existing is not None:
            # Never hand out a token for an existing account: use a fresh guest id.
            user_id = f"{user_id}-{uuid.uuid4().hex[:8]}"
        now = utcnow()
        user = self._user_from_object({**obj, "id": user_id}, None, now, allow_protected=False)
        user.role = "guest"
        await self.users.save([user])
        token = auth.create_token(self.app.api_secret, user.id)
        return {"access_token": token, "user": self.user_wire(user)}

    # app settings, roles, permissions -----------------------------------------------------

    def get_app_response(self) -> dict[str, Any]:
        settings = dict(self.app_settings)
        app_grants = settings.pop("grants", None) or permissions.default_app_grants()
        app = {
            **settings,
            "grants": {".app": app_grants, **{n: ct.grants for n, ct in
                                              sorted(self.channel_types.items())}},
            "channel_configs": {n: self._type_config(ct) for n, ct in
                                sorted(self.channel_types.items())},
            "policies": {},
        }
        return {"app": app}

    async def update_app(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self.app is not None
        updated = dict(self.app_settings)
        for key, value in body.items():
            if key == "grants":
                if value is None:
                    updated["grants"] = None
                    continue
                if not isinstance(value, dict):
                    raise errors.InputError("grants must be an object of role to permissions")
                current = updated.get("grants") or permissions.default_app_grants()
                updated["grants"] = permissions.merge_grants(
                    current, value, permissions.default_app_grants())
            elif key in ("disable_auth_checks", "disable_permissions_checks",
                         "guest_user_creation_disabled", "multi_tenant_enabled"):
                if not isinstance(value, bool):
                    raise errors.InputError(f"{key} must be a boolean")
                updated[key] = value
            elif key == "revoke_tokens_issued_before":
                if value is not None and (not isinstance(value, str) or parse_time(value) is None):
                    raise errors.InputError("revoke_tokens_issued_before must be a timestamp")
                updated[key] = value
            elif key in ("webhook_events",):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise errors.InputError(f"{key} must be an array of strings")
                updated[key] = value
            elif key == "event_hooks":
                if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                    raise errors.InputError("event_hooks must be an array of objects")
                updated[key] = [{"id": h.get("id") or str(uuid.uuid4()), **h} for h in value]
            elif key == "enforce_unique_usernames":
                if value not in ("no", "app", "team"):
                    raise errors.InputError("enforce_unique_usernames must be no, app or team")
                updated[key] = value
            else:
                # Settings Hubbub stores and shows but does not act on (push, uploads, ...).
                updated[key] = value
        await self.storage.save_app_settings(updated)
        self.app = replace(self.app, settings=updated)
        return {}

    async def list_roles(self) -> dict[str, Any]:
        stored = await self.storage.list_roles()
        builtin = [{"name": r, "custom": False, "scopes": [], "created_at": "",
                    "updated_at": ""} for r in sorted(BUILTIN_ROLES)]
        custom = [{**r, "custom": True, "scopes": []} for r in stored]
        return {"roles": builtin + custom}

    async def create_role(self, name: str) -> dict[str, Any]:
        check_id(name, "name")
        if name in BUILTIN_ROLES:
            raise errors.InputError(f"role {name!r} is a built-in role")
        if len(self.custom_roles) >= 25 and name not in self.custom_roles:
            raise errors.InputError("an app can have at most 25 custom roles")
        now = utcnow()
        if not await self.storage.create_role(name, now):
            raise errors.InputError(f"role {name!r} already exists")
        self.custom_roles.add(name)
        return {"role": {"name": name, "custom": True, "scopes": [], "created_at": now,
                         "updated_at": now}}

    async def delete_role(self, name: str) -> dict[str, Any]:
        if name in BUILTIN_ROLES:
            raise errors.InputError(f"role {name!r} is a built-in role and cannot be deleted")
        if name not in self.custom_roles:
            raise errors.NotFound(f"role {name!r} does not exist")
        if await self.storage.count_role_uses(name):
            raise errors.InputError(f"role {name!r} is assigned to users or members")
        if any(name in ct.grants for ct in self.channel_types.values()):
            raise errors.InputError(f"role {name!r} has grants on a channel type")
        await self.storage.delete_role(name)
        self.custom_roles.discard(name)
        return {}

    def _known_role(self, role: str) -> bool:
        return role in BUILTIN_ROLES or role in self.custom_roles

    # channel types -----------------------------------------------------------------------

    def channel_type(self, name: str) -> ChannelType:
        ct = self.channel_types.get(name)
        if ct is None:
            raise errors.NotFound(f"channel type {name!r} does not exist")
        return ct

    def _type_config(self, ct: ChannelType) -> dict[str, Any]:
        return {**ct.config, "name": ct.name, "commands": defaults.command_objects(ct.commands),
                "created_at": ct.created_at, "updated_at": ct.updated_at}

    def channel_type_response(self, ct: ChannelType, *, command_names: bool) -> dict[str, Any]:
        return {
            **ct.config, "name": ct.name,
            "commands": (list(ct.commands) if command_names
                         else defaults.command_objects(ct.commands)),
            "grants": ct.grants, "permissions": [],
            "created_at": ct.created_at, "updated_at": ct.updated_at,
        }

    def _apply_type_settings(self, ct: ChannelType, body: dict[str, Any]) -> None:
        for key, value in body.items():
            if key in ("name", "created_at", "updated_at", "permissions"):
                continue
            if key == "commands":
                if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
                    raise errors.InputError("commands must be an array of command names")
                ct.commands = defaults.expand_commands(value)
            elif key == "grants":
                if value is not None and not isinstance(value, dict):
                    raise errors.InputError("grants must be an object of role to permissions")
                for role in (value or {}):
                    if not self._known_role(role):
                        raise errors.InputError(f"role {role!r} does not exist")
                ct.grants = permissions.merge_grants(
                    ct.grants, value, permissions.default_channel_type_grants(ct.name))
            elif key == "allowed_custom_event_types":
                if not isinstance(value, list) or not all(
                        isinstance(t, str) and t and events.is_custom(t) for t in value):
                    raise errors.InputError(
                        "allowed_custom_event_types must be an array of event types without '.'")
                ct.config[key] = sorted(set(value))
            elif key in defaults.CONFIG_TYPES:
                expected = defaults.CONFIG_TYPES[key]
                if value is None or (isinstance(value, bool) and expected is int) or \
                        not isinstance(value, expected):
                    raise errors.InputError(f"{key} has the wrong type")
                if key == "max_message_length" and not (
                        isinstance(value, int) and 1 <= value <= 20000):
                    raise errors.InputError("max_message_length must be between 1 and 20000")
                ct.config[key] = value
            else:
                raise errors.InputError(f"unknown channel type setting {key!r}")

    async def create_channel_type(self, body: dict[str, Any]) -> dict[str, Any]:
        name = check_id(body.get("name"), "name")
        if name in self.channel_types:
            raise errors.InputError(f"channel type {name!r} already exists")
        if len(self.channel_types) >= 50:
            raise errors.InputError("an app can have at most 50 channel types")
        now = utcnow()
        ct = ChannelType(name=name, config=defaults.builtin_config(name),
                         grants=permissions.default_channel_type_grants(name),
                         commands=list(defaults.ALL_COMMANDS), created_at=now, updated_at=now)
        self._apply_type_settings(ct, body)
        await self.storage.save_channel_type(ct)
        self.channel_types[name] = ct
        return self.channel_type_response(ct, command_names=True)

    async def update_channel_type(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self.channel_type(name)
        ct = ChannelType(name=current.name, config=dict(current.config),
                         grants={k: list(v) for k, v in current.grants.items()},
                         commands=list(current.commands), created_at=current.created_at,
                         updated_at=utcnow(), builtin=current.builtin)
        self._apply_type_settings(ct, body)
        await self.storage.save_channel_type(ct)
        self.channel_types[name] = ct
        return self.channel_type_response(ct, command_names=True)

    async def delete_channel_type(self, name: str) -> dict[str, Any]:
        self.channel_type(name)
        if await self.storage.count_channels(name):
            raise errors.InputError(f"channel type {name!r} still has channels")
        await self.storage.delete_channel_type(name)
        del self.channel_types[name]
        return {}

    # permissions helpers -----------------------------------------------------------------

    def _checks_disabled(self) -> bool:
        return bool(self.app_settings.get("disable_permissions_checks"))

    def _authorize_app(self, user: User, action: str) -> None:
        if self._checks_disabled():
            return
        grants = self.app_settings.get("grants") or permissions.default_app_grants()
        subject = Subject(user_id=user.id, role=user.role)
        if not permissions.is_allowed_app(action, subject, is_owner=True, app_grants=grants):
            raise errors.NotAllowed(
                f"User '{user.id}' with role '{user.role}' is not allowed to perform action "
                f"{action} in scope '.app'")

    def _authorize(self, user: User, action: str, ct: ChannelType, channel: Channel | None,
                   member: Member | None) -> None:
        if self._checks_disabled():
            return
        subject = Subject(user_id=user.id, role=user.role,
                          channel_role=member.channel_role if member else None)
        is_owner = channel is None or channel.created_by_id == user.id
        overrides = (channel.config_overrides.get("grants") if channel else None) or None
        permissions.authorize(action, subject, scope=ct.name, is_owner=is_owner,
                              grants=ct.grants, overrides=overrides)

    def _can(self, user: User, action: str, ct: ChannelType, channel: Channel,
             member: Member | None) -> bool:
        try:
            self._authorize(user, action, ct, channel, member)
        except errors.NotAllowed:
            return False
        return True

    # channels ----------------------------------------------------------------------------

    def _config_for(self, ct: ChannelType, channel: Channel) -> dict[str, Any]:
        config = self._type_config(ct)
        for key, value in channel.config_overrides.items():
            if key != "grants":
                config[key] = value
        return config

    async def channel_state(self, channel: Channel, ct: ChannelType, acting: User | None,
                            *, member_limit: int = 100, member_offset: int = 0) -> dict[str, Any]:
        """``ChannelStateResponse``: the channel, its members, and empty message lists (Hubbub
        stores no messages) that the JS SDK reads unguarded."""
        members = await self.storage.get_members(channel.cid)
        user_ids = [m.user_id for m in members]
        if channel.created_by_id:
            user_ids.append(channel.created_by_id)
        watcher_ids = self.hub.watching_users(channel.cid)
        users = await self.users.get(user_ids + watcher_ids)
        membership = next((m for m in members if acting and m.user_id == acting.id), None)
        channel_wire = self._channel_wire(channel, ct, users, len(members), acting, membership)
        page = members[member_offset:member_offset + member_limit]
        return {
            "channel": channel_wire,
            "members": [m.to_wire(users.get(m.user_id), online=self.hub.is_online(m.user_id))
                        for m in page],
            "messages": [], "pinned_messages": [], "pending_messages": [], "read": [],
            "threads": [], "hidden": False,
            "watcher_count": self.hub.watcher_count(channel.cid),
            "watchers": [self.user_wire(users[u]) for u in watcher_ids if u in users],
            "membership": (membership.to_wire(users.get(membership.user_id), online=True)
                           if membership else None),
        }

    def _channel_wire(self, channel: Channel, ct: ChannelType, users: dict[str, User],
                      member_count: int, acting: User | None,
                      membership: Member | None) -> dict[str, Any]:
        creator = users.get(channel.created_by_id or "")
        wire: dict[str, Any] = dict(channel.data)
        config = self._config_for(ct, channel)
        wire.update(
            id=channel.id, type=channel.type, cid=channel.cid, created_at=channel.created_at,
            updated_at=channel.updated_at, frozen=channel.frozen, disabled=channel.disabled,
            member_count=member_count, config=config, hidden=False, cooldown=0,
            team=channel.team,
        )
        if creator is not None:
            wire["created_by"] = self.user_wire(creator)
        if channel.last_message_at:
            wire["last_message_at"] = channel.last_message_at
        if channel.config_overrides:
            wire["config_overrides"] = channel.config_overrides
        if acting is not None:
            if self._checks_disabled():
                subject_grants: dict[str, list[str]] = {
                    r: sorted(permissions.PERMISSIONS) for r in (acting.role,)}
                subject = Subject(user_id=acting.id, role=acting.role)
                wire["own_capabilities"] = permissions.own_capabilities(
                    subject, is_owner=True, grants=subject_grants, overrides=None, config=config)
            else:
                subject = Subject(user_id=acting.id, role=acting.role,
                                  channel_role=membership.channel_role if membership else None)
                wire["own_capabilities"] = permissions.own_capabilities(
                    subject, is_owner=channel.created_by_id == acting.id, grants=ct.grants,
                    overrides=channel.config_overrides.get("grants") or None, config=config)
        return wire

    def _resolve_creator(self, principal: Principal, acting: User | None,
                         data: ChannelData | None) -> str:
        if principal.client_side:
            assert acting is not None
            return acting.id
        creator = None
        if data is not None:
            if data.created_by is not None:
                creator = data.created_by.get("id")
            creator = creator or data.created_by_id
        if not creator:
            raise errors.InputError(
                "either data.created_by or data.created_by_id must be provided when using "
                "server side auth.")
        return check_id(creator, "data.created_by.id")

    async def _ensure_users_exist(self, ids: list[str]) -> dict[str, User]:
        found = await self.users.get(ids)
        missing = sorted(set(ids) - set(found))
        if missing:
            raise errors.InputError(
                f"The following users are involved in channel update operation, but don't "
                f"exist: [{', '.join(missing)}]")
        return found

    def _member_inputs(self, inputs: list[MemberInput], now: str, cid: str) -> list[Member]:
        out = []
        for m in inputs:
            check_id(m.user_id, "members[].user_id")
            role = m.channel_role or "channel_member"
            if not self._known_role(role):
                raise errors.InputError(f"channel_role {role!r} does not exist")
            out.append(Member(cid=cid, user_id=m.user_id, channel_role=role, created_at=now,
                              updated_at=now))
        return out

    async def get_or_create_channel(self, principal: Principal, channel_type: str,
                                    channel_id: str | None, request: ChannelQueryRequest,
                                    connection_id: str | None) -> dict[str, Any]:
        ct = self.channel_type(channel_type)
        acting = None if principal.server else await self.acting_user(principal)
        data = request.data
        if channel_id is None:
            # Distinct channel: its id is derived from the member set.
            if data is None or not data.members:
                raise errors.InputError(
                    "When channel id is not provided, members must be provided")
            ids = sorted({m.user_id for m in data.members})
            if acting is not None and acting.id not in ids:
                ids.append(acting.id)
                ids.sort()
            digest = hashlib.sha256("\0".join(ids).encode()).hexdigest()[:40]
            channel_id = f"!members-{digest}"
        check_id(channel_id, "channel id")
        cid = f"{channel_type}:{channel_id}"
        channel, member = (await self.storage.get_channel_and_member(cid, acting.id)
                           if acting else (await self.storage.get_channel(cid), None))
        if channel is None:
            creator_id = self._resolve_creator(principal, acting, data)
            now = utcnow()
            custom = {k: v for k, v in ((data.model_extra or {}) if data else {}).items()
                      if k not in CHANNEL_RESERVED}
            check_custom_size(custom, "channel")
            new_channel = Channel(type=channel_type, id=channel_id, created_by_id=creator_id,
                                  data=custom, team=(data.team or "") if data else "",
                                  frozen=bool(data and data.frozen), created_at=now,
                                  updated_at=now)
            if data and data.config_overrides:
                if principal.client_side:
                    raise errors.NotAllowed("config_overrides can only be set server-side")
                new_channel.config_overrides = self._check_overrides(data.config_overrides)
            new_members = self._member_inputs(data.members or [] if data else [], now, cid)
            if acting is not None:
                self._authorize(acting, permissions.CREATE_CHANNEL, ct, None, None)
            await self._ensure_users_exist(
                list({m.user_id for m in new_members} | {creator_id}) if principal.server
                else [m.user_id for m in new_members])
            if await self.storage.create_channel(new_channel, new_members):
                await self._publish_channel_event("channel.created", new_channel, None, {})
            channel, member = (await self.storage.get_channel_and_member(cid, acting.id)
                               if acting else (await self.storage.get_channel(cid), None))
            assert channel is not None
        elif acting is not None:
            self._authorize(acting, permissions.READ_CHANNEL, ct, channel, member)
        if request.watch and connection_id:
            if acting is None:
                raise errors.InputError("watching needs a client-side (user) token")
            await self.watch(acting, channel, ct, connection_id)
        limit = request.members.limit if request.members else 100
        offset = request.members.offset if request.members else 0
        return await self.channel_state(channel, ct, acting, member_limit=limit,
                                        member_offset=offset)

    def _check_overrides(self, overrides: dict[str, Any]) -> dict[str, Any]:
        allowed = {"typing_events", "reactions", "replies", "quotes", "uploads", "url_enrichment",
                   "max_message_length", "blocklist", "blocklist_behavior", "commands",
                   "grants", "push_level", "shared_locations", "user_message_reminders",
                   "count_messages"}
        for key, value in overrides.items():
            if key not in allowed:
                raise errors.InputError(f"config_overrides.{key} cannot be overridden")
            if key == "grants":
                if not isinstance(value, dict):
                    raise errors.InputError("config_overrides.grants must be an object")
                for role, perms in value.items():
                    if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
                        raise errors.InputError(
                            f"config_overrides.grants.{role} must be an array of permissions")
                    for p in perms:
                        if p.lstrip("!") not in permissions.PERMISSIONS:
                            raise errors.InputError(f"permission {p.lstrip('!')!r} is unknown")
        return overrides

    async def _load_channel(self, channel_type: str, channel_id: str,
                            acting: User | None) -> tuple[ChannelType, Channel, Member | None]:
        ct = self.channel_type(channel_type)
        cid = f"{channel_type}:{channel_id}"
        if acting is not None:
            channel, member = await self.storage.get_channel_and_member(cid, acting.id)
        else:
            channel, member = await self.storage.get_channel(cid), None
        if channel is None:
            raise errors.NotFound(f"channel {cid!r} does not exist")
        return ct, channel, member

    async def update_channel(self, principal: Principal, channel_type: str, channel_id: str,
                             request: UpdateChannelRequest) -> dict[str, Any]:
        acting = None if principal.server else await self.acting_user(principal)
        ct, channel, member = await self._load_channel(channel_type, channel_id, acting)
        now = utcnow()
        add = self._member_inputs(request.add_members or [], now, channel.cid)
        remove = [check_id(u, "remove_members[]")
                  for u in request.remove_members or []]
        role_changes = self._member_inputs(request.assign_roles or [], now, channel.cid)
        moderators = [Member(cid=channel.cid, user_id=check_id(u, "add_moderators[]"),
                             channel_role="channel_moderator", created_at=now, updated_at=now)
                      for u in dict.fromkeys(request.add_moderators or [])]
        role_changes += moderators
        role_changes += [Member(cid=channel.cid, user_id=u, channel_role="channel_member")
                         for u in request.demote_moderators or []]
        if acting is not None:
            if request.data is not None:
                self._authorize(acting, permissions.UPDATE_CHANNEL, ct, channel, member)
            if add or role_changes:
                self._authorize(acting, permissions.UPDATE_CHANNEL_MEMBERS, ct, channel, member)
            if remove:
                action = (permissions.REMOVE_OWN_CHANNEL_MEMBERSHIP if remove == [acting.id]
                          else permissions.UPDATE_CHANNEL_MEMBERS)
                self._authorize(acting, action, ct, channel, member)
        if request.data is not None:
            custom = {k: v for k, v in (request.data.model_extra or {}).items()
                      if k not in CHANNEL_RESERVED}
            check_custom_size(custom, "channel")
            if request.data.config_overrides is not None:
                if acting is not None:
                    raise errors.NotAllowed("config_overrides can only be set server-side")
                channel.config_overrides = self._check_overrides(request.data.config_overrides)
            channel.data = custom
            if request.data.frozen is not None:
                channel.frozen = request.data.frozen
            if request.data.team is not None:
                channel.team = request.data.team
            channel.updated_at = now
        existing = {m.user_id: m for m in await self.storage.get_members(
            channel.cid, [m.user_id for m in add + role_changes])}
        # As in Stream, add_moderators makes a non-member a member, as a moderator.
        joining = [m for m in moderators if m.user_id not in existing
                   and m.user_id not in {a.user_id for a in add}]
        add += joining
        role_changes = [m for m in role_changes if all(m is not j for j in joining)]
        if add:
            await self._ensure_users_exist([m.user_id for m in add])
        missing_roles = [m.user_id for m in role_changes if m.user_id not in existing
                         and m.user_id not in {a.user_id for a in add}]
        if missing_roles:
            raise errors.InputError(f"users {missing_roles} are not members of the channel")
        if request.data is not None:
            await self.storage.save_channel(channel)
        new_members = [m for m in add if m.user_id not in existing]
        # Re-adding an existing member keeps its role and join time. One row per user: a role
        # change of a user added by this same call replaces the added row.
        to_save = {m.user_id: m for m in new_members}
        for change in role_changes:
            base = existing.get(change.user_id) or next(
                m for m in add if m.user_id == change.user_id)
            to_save[change.user_id] = Member(cid=channel.cid, user_id=change.user_id,
                                             channel_role=change.channel_role,
                                             created_at=base.created_at or now, updated_at=now)
        if to_save:
            await self.storage.save_members(list(to_save.values()))
        if remove:
            await self.storage.remove_members(channel.cid, remove)
        members = await self.storage.get_members(channel.cid)
        users = await self.users.get([m.user_id for m in members] + [
            u for u in [channel.created_by_id] if u])
        for m in new_members:
            await self._publish_channel_event("member.added", channel, acting, {
                "member": to_save[m.user_id].to_wire(users.get(m.user_id)),
                "user": self.user_wire(users[m.user_id])})
        for uid in remove:
            await self._publish_channel_event("member.removed", channel, acting, {
                "user": {"id": uid}})
        if request.data is not None:
            await self._publish_channel_event("channel.updated", channel, acting, {
                "channel": self._channel_wire(channel, ct, users, len(members), None, None)})
        membership = next((m for m in members if acting and m.user_id == acting.id), None)
        return {
            "channel": self._channel_wire(channel, ct, users, len(members), acting, membership),
            "members": [m.to_wire(users.get(m.user_id), online=self.hub.is_online(m.user_id))
                        for m in members],
        }

    async def partial_update_channel(self, principal: Principal, channel_type: str,
                                     channel_id: str,
                                     request: PartialUpdateChannelRequest) -> dict[str, Any]:
        acting = None if principal.server else await self.acting_user(principal)
        ct, channel, member = await self._load_channel(channel_type, channel_id, acting)
        if acting is not None:
            self._authorize(acting, permissions.UPDATE_CHANNEL, ct, channel, member)
        to_set = dict(request.set or {})
        if "config_overrides" in to_set:
            if acting is not None:
                raise errors.NotAllowed("config_overrides can only be set server-side")
            value = to_set.pop("config_overrides")
            if not isinstance(value, dict):
                raise errors.InputError("config_overrides must be an object")
            channel.config_overrides = self._check_overrides({**channel.config_overrides,
                                                              **value})
        for flag in ("frozen", "disabled"):
            if flag in to_set:
                value = to_set.pop(flag)
                if not isinstance(value, bool):
                    raise errors.InputError(f"{flag} must be a boolean")
                setattr(channel, flag, value)
        if "team" in to_set:
            channel.team = str(to_set.pop("team") or "")
        for key in list(to_set):
            if key in CHANNEL_RESERVED:
                raise errors.InputError(f"field {key!r} cannot be set")
        channel.data.update(to_set)
        for key in request.unset or []:
            if key == "config_overrides":
                channel.config_overrides = {}
            channel.data.pop(key, None)
        check_custom_size(channel.data, "channel")
        channel.updated_at = utcnow()
        await self.storage.save_channel(channel)
        members = await self.storage.get_members(channel.cid)
        users = await self.users.get([m.user_id for m in members] + [
            u for u in [channel.created_by_id] if u])
        await self._publish_channel_event("channel.updated", channel, acting, {
            "channel": self._channel_wire(channel, ct, users, len(members), None, None)})
        return {
            "channel": self._channel_wire(channel, ct, users, len(members), acting, member),
            "members": [m.to_wire(users.get(m.user_id)) for m in members],
        }

    async def delete_channel(self, principal: Principal, channel_type: str,
                             channel_id: str) -> dict[str, Any]:
        acting = None if principal.server else await self.acting_user(principal)
        ct, channel, member = await self._load_channel(channel_type, channel_id, acting)
        if acting is not None:
            self._authorize(acting, permissions.DELETE_CHANNEL, ct, channel, member)
        users = await self.users.get([u for u in [channel.created_by_id] if u])
        wire = self._channel_wire(channel, ct, users, 0, None, None)
        wire["deleted_at"] = utcnow()
        await self._publish_channel_event("channel.deleted", channel, acting, {"channel": wire})
        await self.storage.delete_channels([channel.cid])
        self._unwatch_everyone(channel.cid)
        return {"channel": wire}

    def _unwatch_everyone(self, cid: str) -> None:
        for conn in list(self.hub.watchers.get(cid, {}).values()):
            self.hub.unwatch(conn, cid)

    async def delete_channels(self, cids: list[str]) -> dict[str, Any]:
        for cid in cids:
            if not isinstance(cid, str) or cid.count(":") != 1:
                raise errors.InputError(f"invalid cid {cid!r}")
        found = {c.cid for c in await self.storage.query_channels(
            {"cid": {"$in": cids}}, None, len(cids), 0)} if cids else set()
        await self.storage.delete_channels(cids)
        for cid in cids:
            self._unwatch_everyone(cid)
        return await self._completed_task("delete-channels", {
            c: task_entry(None if c in found else f"channel {c!r} does not exist") for c in cids})

    async def query_channels(self, principal: Principal, request: QueryChannelsRequest,
                             connection_id: str | None) -> dict[str, Any]:
        acting = None if principal.server else await self.acting_user(principal)
        found = await self.storage.query_channels(request.filter_conditions, request.sort,
                                                  request.limit, request.offset)
        memberships: dict[str, Member] = {}
        if acting is not None:
            memberships = await self.storage.get_memberships([c.cid for c in found], acting.id)
        out = []
        for channel in found:
            ct = self.channel_types.get(channel.type)
            if ct is None:
                continue
            if acting is not None and not self._can(acting, permissions.READ_CHANNEL, ct,
                                                    channel, memberships.get(channel.cid)):
                continue
            if request.watch and connection_id and acting is not None:
                await self.watch(acting, channel, ct, connection_id)
            out.append(await self.channel_state(
                channel, ct, acting, member_limit=request.member_limit or 100))
        return {"channels": out}

    async def query_members(self, principal: Principal,
                            request: QueryMembersRequest) -> dict[str, Any]:
        acting = None if principal.server else await self.acting_user(principal)
        if not request.id:
            raise errors.InputError("id is a required field (distinct channels by members are "
                                    "not supported in query members)")
        ct, channel, member = await self._load_channel(request.type, request.id, acting)
        if acting is not None:
            self._authorize(acting, permissions.READ_CHANNEL_MEMBERS, ct, channel, member)
        found = await self.storage.query_members(channel.cid, request.filter_conditions,
                                                 request.sort, request.limit, request.offset)
        users = await self.users.get([m.user_id for m in found])
        return {"members": [m.to_wire(users.get(m.user_id),
                                      online=self.hub.is_online(m.user_id)) for m in found]}

    # watching ----------------------------------------------------------------------------

    async def watch(self, acting: User, channel: Channel, ct: ChannelType,
                    connection_id: str) -> None:
        """Subscribe one of ``acting``'s connections to the channel. Read access is checked by
        the caller. The connection may live on another node: then that node applies it."""
        conn = self.hub.get(connection_id)
        if conn is None:
            if self.broker.distributed:
                await self.broker.publish(Control("watch", self._watch_args(
                    acting, connection_id, channel.cid)))
            return
        if not self._owns(acting.id, acting.role == "anonymous", conn):
            raise errors.InputError("connection_id does not belong to the requesting user")
        await self._watch_here(conn, channel.cid, acting)

    async def _watch_here(self, conn: Connection, cid: str, user: User | None) -> None:
        """Subscribe a connection of this process; the user's first watch of the channel
        tells the watchers (``user.watching.start``) when the type has connect events."""
        first = not self.hub.is_user_watching(cid, conn.user_id)
        ct = self.channel_types.get(cid.partition(":")[0])
        if self.hub.watch(conn, cid) and first and ct is not None and ct.feature(
                "connect_events"):
            if user is None:
                user = await self.users.get_one(conn.user_id)
            channel_type, _, channel_id = cid.partition(":")
            await self.emit("channel", cid, events.channel_event(
                "user.watching.start", {"watcher_count": self.hub.watcher_count(cid)},
                channel_type=channel_type, channel_id=channel_id,
                user=self.user_wire(user) if user else {"id": conn.user_id},
                created_at=utcnow()))

    @staticmethod
    def _watch_args(acting: User, connection_id: str, cid: str) -> dict[str, Any]:
        return {"connection_id": connection_id, "user_id": acting.id, "cid": cid,
                "anonymous": acting.role == "anonymous"}

    @staticmethod
    def _owns(user_id: str, anonymous: bool, conn: Connection) -> bool:
        """A request may act on its own connections only (an anonymous request on anonymous
        ones): nobody subscribes somebody else's socket by guessing its id."""
        return conn.user_id == user_id or (conn.anonymous and anonymous)

    def _remote_watch(self, args: dict[str, Any], watching: bool) -> None:
        conn = self.hub.get(str(args.get("connection_id", "")))
        cid = args.get("cid")
        if conn is None or not isinstance(cid, str) or not self._owns(
                str(args.get("user_id")), bool(args.get("anonymous")), conn):
            return
        if watching:
            work = self._watch_here(conn, cid, None)
        elif self.hub.unwatch(conn, cid):
            work = self._after_unwatch(conn.user_id, cid,
                                       self.channel_types.get(cid.partition(":")[0]))
        else:
            return
        # Broker handlers are synchronous: the announcement runs as a task of its own.
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop_watching(self, principal: Principal, channel_type: str, channel_id: str,
                            connection_id: str | None) -> dict[str, Any]:
        acting = await self.acting_user(principal)
        ct = self.channel_type(channel_type)
        cid = f"{channel_type}:{channel_id}"
        if not connection_id:
            raise errors.InputError("connection_id is required to stop watching")
        conn = self.hub.get(connection_id)
        if conn is None:
            if self.broker.distributed:
                await self.broker.publish(Control("unwatch", self._watch_args(
                    acting, connection_id, cid)))
            return {}
        if not self._owns(acting.id, acting.role == "anonymous", conn):
            raise errors.InputError("connection_id does not belong to the requesting user")
        if self.hub.unwatch(conn, cid):
            await self._after_unwatch(acting.id, cid, ct)
        return {}

    async def _after_unwatch(self, user_id: str, cid: str, ct: ChannelType | None) -> None:
        if ct is None or not ct.feature("connect_events"):
            return
        if self.hub.is_user_watching(cid, user_id):
            return
        user = (await self.users.get([user_id])).get(user_id)
        channel_type, _, channel_id = cid.partition(":")
        payload = events.channel_event(
            "user.watching.stop", {"watcher_count": self.hub.watcher_count(cid)},
            channel_type=channel_type, channel_id=channel_id,
            user=self.user_wire(user) if user else {"id": user_id}, created_at=utcnow())
        await self.emit("channel", cid, payload)

    async def _publish_channel_event(self, event_type: str, channel: Channel,
                                     acting: User | None, fields: dict[str, Any]) -> None:
        payload = events.channel_event(
            event_type, {k: v for k, v in fields.items() if k != "user"},
            channel_type=channel.type, channel_id=channel.id,
            user=fields.get("user") or (self.user_wire(acting) if acting else None),
            created_at=utcnow())
        await self.emit("channel", channel.cid, payload)

    async def emit(self, scope: Literal["channel", "user"], key: str,
                   event: dict[str, Any]) -> None:
        """Encode ``event`` once; store its webhook copies; then hand it to the broker.

        The copies are committed before this returns, so an API call that answers 2xx has
        made its webhook copies durable: they survive a crash that happens after it.
        """
        data = encode(event)
        copies = deliveries_for(self.app_settings, event["type"], data,
                                user_event=scope == "user",
                                default_timeout=self.settings.webhook_timeout)
        if copies:
            await self.storage.enqueue_webhooks(copies)
            if self.webhooks is not None:
                self.webhooks.notify()
        await self.broker.publish(Delivery(scope, key, data))

    # events ------------------------------------------------------------------------------

    async def send_channel_event(self, principal: Principal, channel_type: str,
                                 channel_id: str, event: EventInput,
                                 raw_size: int) -> dict[str, Any]:
        """Deliver an event to every connection watching the channel, the sender's included.

        Order of checks: channel type and channel exist; the type is allowed (custom types
        need ``custom_events``, ``typing.*`` need ``typing_events``, other dotted types are
        refused); the sender is known (the token's user, or ``user``/``user_id`` server-side);
        the sender may send (client-side only). Only then is the event published.
        """
        event_type = events.check_type(event.type)
        if raw_size > self.settings.max_event_bytes:
            raise errors.PayloadTooBig(
                f"event payload is {raw_size} bytes, more than the "
                f"{self.settings.max_event_bytes} bytes allowed")
        if principal.server:
            if event.user is None and not event.user_id:
                raise errors.InputError(
                    "either event.user or event.user_id must be provided when using server "
                    "side auth.")
            if event.user is not None and event.user_id:
                raise errors.InputError("cannot set both event.user and event.user_id.")
        ct = self.channel_type(channel_type)
        if events.is_custom(event_type):
            action = permissions.SEND_CUSTOM_EVENT
            if not ct.feature("custom_events"):
                raise errors.EventNotSupported(
                    f"Channel type {channel_type} does not support custom events")
            allowed = ct.config.get("allowed_custom_event_types")
            if allowed and event_type not in allowed:
                raise errors.EventNotSupported(
                    f"Channel type {channel_type} does not accept custom events of type "
                    f"{event_type!r}")
        elif event_type in events.CLIENT_BUILTIN_EVENTS:
            action = permissions.SEND_TYPING_EVENTS
            if not ct.feature(events.CLIENT_BUILTIN_EVENTS[event_type]):
                raise errors.EventNotSupported(
                    f"Channel type {channel_type} does not support typing events")
        else:
            raise errors.EventNotSupported(
                f"event type {event_type} is not supported: types containing '.' are reserved "
                "for built-in events")
        if principal.server:
            sender = await self._named_user(event.user, event.user_id, "event")
            channel = await self.storage.get_channel(f"{channel_type}:{channel_id}")
            if channel is None:
                raise errors.NotFound(f"channel '{channel_type}:{channel_id}' does not exist")
        else:
            sender = await self.acting_user(principal)
            _, channel, member = await self._load_channel(channel_type, channel_id, sender)
            self._authorize(sender, action, ct, channel, member)
        if event_type in events.CLIENT_BUILTIN_EVENTS and not self._config_for(
                ct, channel).get("typing_events"):
            raise errors.EventNotSupported(f"channel {channel.cid} does not support typing events")
        fields = events.custom_fields(event.model_extra or {})
        if event.parent_id is not None:
            fields["parent_id"] = event.parent_id
        payload = events.channel_event(event_type, fields, channel_type=channel_type,
                                       channel_id=channel_id, user=self.user_wire(sender),
                                       created_at=utcnow())
        await self.emit("channel", channel.cid, payload)
        return {"event": payload}

    async def _named_user(self, user: dict[str, Any] | None, user_id: str | None,
                          what: str) -> User:
        """The user a server-side request acts for: ``user_id`` must exist; a ``user`` object
        is upserted when it does not (as Stream does)."""
        if user_id:
            uid = check_id(user_id, f"{what}.user_id")
            found = (await self.users.get([uid])).get(uid)
            if found is None:
                raise errors.NotFound(f"user {uid!r} does not exist")
            return found
        if user is None:
            raise errors.InputError(f"either {what}.user or {what}.user_id must be provided "
                                    "when using server side auth.")
        uid = check_id(user.get("id"), f"{what}.user.id")
        found = (await self.users.get([uid])).get(uid)
        if found is None:
            found = self._user_from_object(user, None, utcnow(), allow_protected=True)
            await self.users.save([found])
        return found

    async def mark_read(self, principal: Principal, channel_type: str, channel_id: str,
                        request: MarkReadRequest) -> dict[str, Any]:
        """Hubbub keeps no read state (it stores no messages); it answers as Stream does and
        tells the watchers with ``message.read`` when the type has ``read_events``."""
        if principal.server:
            reader = await self._named_user(request.user, request.user_id, "body")
            ct, channel, _ = await self._load_channel(channel_type, channel_id, None)
        else:
            reader = await self.acting_user(principal)
            ct, channel, member = await self._load_channel(channel_type, channel_id, reader)
            self._authorize(reader, permissions.READ_CHANNEL, ct, channel, member)
        fields = {"last_read_message_id": request.message_id} if request.message_id else {}
        payload = events.channel_event("message.read", fields, channel_type=channel_type,
                                       channel_id=channel_id, user=self.user_wire(reader),
                                       created_at=utcnow())
        if self._config_for(ct, channel).get("read_events"):
            await self.emit("channel", channel.cid, payload)
        return {"event": payload}

    async def send_user_event(self, principal: Principal, user_id: str, event: dict[str, Any],
                              raw_size: int) -> dict[str, Any]:
        """Deliver a custom event to every connection of one user. Server-side only."""
        if principal.client_side:
            raise errors.NotAllowed(
                "send user custom event is only available with server-side authentication")
        event_type = events.check_type(event.get("type"))
        if not events.is_custom(event_type):
            raise errors.InputError(
                f"event type {event_type!r} contains '.', which is reserved for built-in events")
        if raw_size > self.settings.max_event_bytes:
            raise errors.PayloadTooBig(
                f"event payload is {raw_size} bytes, more than the "
                f"{self.settings.max_event_bytes} bytes allowed")
        target = await self.get_user(user_id)
        payload = events.user_event(event_type, events.custom_fields(event),
                                    user=self.user_wire(target), created_at=utcnow())
        await self.emit("user", target.id, payload)
        return {}

    # connections -------------------------------------------------------------------------

    async def connect(self, principal: Principal, details: dict[str, Any]) -> User:
        """Upsert the connecting user from ``user_details`` (never its protected fields) and
        mark it active. Returns the stored user."""
        if principal.anonymous:
            return User(id=f"anon-{uuid.uuid4().hex[:12]}", role="anonymous")
        assert principal.user_id is not None
        detail_id = details.get("id", principal.user_id)
        if detail_id != principal.user_id:
            raise errors.NotAllowed(
                f"user_details.id {detail_id!r} does not match the token's user_id")
        existing = (await self.users.get([principal.user_id])).get(principal.user_id)
        if existing is not None and existing.deactivated_at:
            raise errors.NotAllowed(f"user '{existing.id}' is deactivated")
        now = utcnow()
        safe = {k: v for k, v in details.items() if k not in USER_PROTECTED}
        if existing is not None:
            merged = {**existing.data, **{k: v for k, v in safe.items() if k != "id"}}
            user = self._user_from_object({**merged, "id": existing.id}, existing, now,
                                          allow_protected=False)
        else:
            user = self._user_from_object({**safe, "id": principal.user_id}, None, now,
                                          allow_protected=False)
        user.last_active = now
        await self.users.save([user])
        return user

    def register(self, conn: Connection) -> None:
        self.hub.add(conn)

    async def unregister(self, conn: Connection) -> None:
        watched = self.hub.remove(conn)
        for cid in watched:
            await self._after_unwatch(conn.user_id, cid,
                                      self.channel_types.get(cid.partition(":")[0]))

    def health_check(self, conn: Connection, me: dict[str, Any] | None = None) -> bytes:
        event: dict[str, Any] = {"type": "health.check", "connection_id": conn.id, "cid": "*",
                                 "created_at": utcnow()}
        if me is not None:
            event["me"] = me
        return encode(event)

    async def _health_checks(self) -> None:
        """A ``health.check`` to every connection every interval: the JS SDK reconnects after
        35 s without an event, and its own ping cycle restarts on each health check."""
        interval = self.settings.health_check_interval
        while True:
            await asyncio.sleep(interval)
            for conn in list(self.hub.connections.values()):
                self.hub.write_many([conn], self.health_check(conn))
