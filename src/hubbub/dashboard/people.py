"""Users (search; role, online state, connections; deactivate, reactivate, revoke tokens,
disconnect) and channels (member and watcher counts; a channel's members and their roles)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from hubbub import errors
from hubbub.dashboard import ops
from hubbub.dashboard.sessions import PATH
from hubbub.dashboard.web import act, dashboard_of, describe, guarded, render

routes = web.RouteTableDef()
USERS = PATH + "/users"
CHANNELS = PATH + "/channels"


def _user_page(user_id: str) -> str:
    return f"{USERS}/{quote(user_id, safe='')}"


@routes.get(USERS)
@guarded(page=True)
async def users(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    text = request.query.get("q", "").strip()
    error = None
    found: list[dict[str, object]] = []
    try:
        found = await ops.search_users(ctx, text)
    except errors.HubbubError as exc:
        error = describe(exc)
    # htmx's search asks for the table alone; a history restore or a plain visit, the page.
    fragment = request.headers.get("HX-Target") == "users-table"
    template = "_users_table.html" if fragment else "users.html"
    return render(request, template, users=found, q=text, error=error)


@routes.get(USERS + "/{user_id}")
@guarded(page=True)
async def user(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    try:
        found = await ops.user(ctx, request.match_info["user_id"])
    except errors.HubbubError as exc:
        return render(request, "error.html", status=exc.status, message=describe(exc))
    return render(request, "user.html", user=found)


ACTIONS = {
    "deactivate": ("deactivated", lambda s, u: ops.set_deactivated(s, u, True)),
    "reactivate": ("reactivated", lambda s, u: ops.set_deactivated(s, u, False)),
    "revoke-tokens": ("tokens issued before now revoked", ops.revoke_tokens),
    "disconnect": ("disconnected", ops.disconnect),
}


@routes.post(USERS + "/{user_id}/{action}")
@guarded()
async def user_action(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    user_id = request.match_info["user_id"]
    found = ACTIONS.get(request.match_info["action"])
    if found is None:
        raise web.HTTPNotFound()
    done, fn = found
    return await act(request, _user_page(user_id), f"User {user_id!r} {done}.",
                     lambda: fn(ctx, user_id))


@routes.get(CHANNELS)
@guarded(page=True)
async def channels(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    channel_type = request.query.get("type", "")
    text = request.query.get("q", "").strip()
    error = None
    found: list[dict[str, object]] = []
    try:
        found = await ops.channels(ctx, channel_type, text)
    except errors.HubbubError as exc:
        error = describe(exc)
    return render(request, "channels.html", channels=found, q=text, type=channel_type,
                  types=[t["name"] for t in ops.channel_types(ctx)], error=error)


@routes.get(CHANNELS + "/{type}/{id}")
@guarded(page=True)
async def channel(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    channel_type, channel_id = request.match_info["type"], request.match_info["id"]
    try:
        found = await ops.members(ctx, channel_type, channel_id)
    except errors.HubbubError as exc:
        return render(request, "error.html", status=exc.status, message=describe(exc))
    cid = f"{channel_type}:{channel_id}"
    return render(request, "channel.html", cid=cid, members=found,
                  watchers=ops.watcher_count(ctx, cid))
