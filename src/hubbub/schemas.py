"""Request bodies of the API as pydantic models: validation, and later the OpenAPI document.

Models allow extra keys where Stream's legacy wire format puts custom data flat beside the
built-in fields (users, channel data, events). Types are strict enough to refuse what would
break us (a string where a list belongs), lenient where the SDKs send nulls.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hubbub import errors

MAX_MEMBERS_PER_CALL = 100
#: Deepest nesting of arrays and objects accepted in a request body.
MAX_JSON_DEPTH = 32


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse bodies nested deeper than ``limit`` (they cost recursion everywhere after)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise errors.InputError(f"request body is nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


class Loose(BaseModel):
    """Unknown keys are kept (custom data) and readable via ``model_extra``."""

    model_config = ConfigDict(extra="allow")


class Strict(BaseModel):
    """Unknown keys are ignored: the SDKs send options we do not act on."""

    model_config = ConfigDict(extra="ignore")


class UserObject(Loose):
    id: str = Field(min_length=1)
    role: str | None = None
    teams: list[str] | None = None
    language: str | None = None
    invisible: bool | None = None


class UpsertUsersRequest(Strict):
    users: dict[str, dict[str, Any]]


class PartialUserUpdate(Strict):
    id: str = Field(min_length=1)
    set: dict[str, Any] | None = None
    unset: list[str] | None = None


class PartialUpdateUsersRequest(Strict):
    users: list[PartialUserUpdate]


class QueryUsersRequest(Strict):
    filter_conditions: dict[str, Any] = Field(default_factory=dict)
    sort: list[dict[str, Any]] | None = None
    limit: int = Field(default=30, ge=0, le=100)
    offset: int = Field(default=0, ge=0, le=1000)
    presence: bool | None = None
    include_deactivated_users: bool = False


class DeleteUsersRequest(Strict):
    user_ids: list[str] = Field(min_length=1, max_length=100)
    user: str | None = None
    messages: str | None = None
    conversations: str | None = None
    new_channel_owner_id: str | None = None


class RestoreUsersRequest(Strict):
    user_ids: list[str] = Field(min_length=1, max_length=100)


class GuestRequest(Strict):
    user: dict[str, Any]


class MemberInput(Strict):
    user_id: str = Field(min_length=1)
    channel_role: str | None = None


def _members(value: Any) -> Any:
    """Members are user ids or ``{user_id, channel_role}`` objects; both become ``MemberInput``."""
    if value is None:
        return value
    if not isinstance(value, list):
        raise ValueError("members must be an array")
    if len(value) > MAX_MEMBERS_PER_CALL:
        raise ValueError(f"at most {MAX_MEMBERS_PER_CALL} members per call")
    return [{"user_id": v} if isinstance(v, str) else v for v in value]


class ChannelData(Loose):
    members: list[MemberInput] | None = None
    created_by: dict[str, Any] | None = None
    created_by_id: str | None = None
    team: str | None = None
    frozen: bool | None = None
    disabled: bool | None = None
    config_overrides: dict[str, Any] | None = None

    _members = field_validator("members", mode="before")(_members)


class Pagination(Strict):
    limit: int = Field(default=100, ge=0, le=300)
    offset: int = Field(default=0, ge=0)


class ChannelQueryRequest(Strict):
    data: ChannelData | None = None
    state: bool = False
    watch: bool = False
    presence: bool = False
    members: Pagination | None = None
    watchers: Pagination | None = None
    messages: dict[str, Any] | None = None


class UpdateChannelRequest(Strict):
    data: ChannelData | None = None
    message: dict[str, Any] | None = None
    add_members: list[MemberInput] | None = Field(default=None, max_length=100)
    remove_members: list[str] | None = Field(default=None, max_length=100)
    add_moderators: list[str] | None = Field(default=None, max_length=100)
    demote_moderators: list[str] | None = Field(default=None, max_length=100)
    assign_roles: list[MemberInput] | None = Field(default=None, max_length=100)
    invites: list[MemberInput] | None = Field(default=None, max_length=100)
    accept_invite: bool | None = None
    reject_invite: bool | None = None
    hide_history: bool | None = None
    hide_history_before: str | None = None
    user_id: str | None = None
    user: dict[str, Any] | None = None

    _add = field_validator("add_members", "assign_roles", "invites", mode="before")(_members)


class PartialUpdateChannelRequest(Strict):
    set: dict[str, Any] | None = None
    unset: list[str] | None = None
    user_id: str | None = None
    user: dict[str, Any] | None = None


class QueryChannelsRequest(Strict):
    filter_conditions: dict[str, Any] = Field(default_factory=dict)
    sort: list[dict[str, Any]] | None = None
    limit: int = Field(default=10, ge=0, le=30)
    offset: int = Field(default=0, ge=0)
    state: bool = True
    watch: bool = False
    presence: bool = False
    member_limit: int | None = None
    message_limit: int | None = None
    user_id: str | None = None
    user: dict[str, Any] | None = None


class QueryMembersRequest(Strict):
    type: str = Field(min_length=1)
    id: str | None = None
    members: list[str] | None = None
    filter_conditions: dict[str, Any] = Field(default_factory=dict)
    sort: list[dict[str, Any]] | None = None
    limit: int = Field(default=100, ge=0, le=300)
    offset: int = Field(default=0, ge=0)
    user_id: str | None = None


class DeleteChannelsRequest(Strict):
    cids: list[str] = Field(min_length=1, max_length=100)
    hard_delete: bool = False


class EventInput(Loose):
    type: str = Field(min_length=1)
    user: dict[str, Any] | None = None
    user_id: str | None = None
    parent_id: str | None = None


class SendEventRequest(Strict):
    event: EventInput


class MarkReadRequest(Strict):
    message_id: str | None = None
    user_id: str | None = None
    user: dict[str, Any] | None = None


class UserEventInput(Loose):
    type: str = Field(min_length=1)


class SendUserEventRequest(Strict):
    event: UserEventInput


class ChannelTypeSettings(Loose):
    """Create or update a channel type. Only the fields given change (partial update)."""

    # Strict: "true" is not a boolean here (the service checks again, by the same rule).
    model_config = ConfigDict(extra="allow", strict=True)

    name: str | None = None
    commands: list[str] | None = None
    grants: dict[str, list[str]] | None = None
    allowed_custom_event_types: list[str] | None = None
    custom_events: bool | None = None
    typing_events: bool | None = None
    read_events: bool | None = None
    connect_events: bool | None = None
    replies: bool | None = None
    reactions: bool | None = None
    url_enrichment: bool | None = None
    max_message_length: int | None = None


class UpdateAppRequest(Loose):
    """App settings to change; the others keep their values."""

    model_config = ConfigDict(extra="allow", strict=True)

    disable_auth_checks: bool | None = None
    disable_permissions_checks: bool | None = None
    revoke_tokens_issued_before: str | None = None
    webhook_url: str | None = None
    webhook_events: list[str] | None = None
    event_hooks: list[dict[str, Any]] | None = None
    grants: dict[str, list[str]] | None = None


class CreateRoleRequest(Strict):
    name: str = Field(min_length=1, max_length=64)


def parse(model: type[BaseModel], data: Any) -> Any:
    """Validate ``data`` as ``model``; a client's mistake becomes ``InputError`` (400, code 4)."""
    if not isinstance(data, dict):
        raise errors.InputError("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        fields = {".".join(str(p) for p in e["loc"]): e["msg"] for e in exc.errors()}
        raise errors.InputError(f"field {where}: {first['msg']}", fields=fields) from exc


class SyncRequest(Strict):
    """``POST /sync`` (Stream's Sync Events)."""

    channel_cids: list[str] = Field(default_factory=list)
    last_sync_at: str | None = None
    with_inaccessible_cids: bool = False
    watch: bool = False
    user_id: str | None = None
