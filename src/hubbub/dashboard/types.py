"""Channel types: list, create, delete; features switched with one click; allowed custom event
types; grants per role as a matrix of checkboxes, with a reset to Stream's defaults.

Every change is an ``UpdateChannelType`` of the ctx, with its validation: what the API
would refuse, the dashboard shows as refused.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from hubbub import errors
from hubbub.dashboard import ops
from hubbub.dashboard.sessions import PATH
from hubbub.dashboard.web import act, dashboard_of, describe, guarded, redirect, render

routes = web.RouteTableDef()
LIST = PATH + "/channel-types"


def _page(name: str) -> str:
    return f"{LIST}/{quote(name, safe='')}"


@routes.get(LIST)
@guarded(page=True)
async def list_types(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    return render(request, "channel_types.html", types=ops.channel_types(ctx),
                  features=ops.FEATURES[:4])


@routes.post(LIST)
@guarded()
async def create_type(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    name = str(request["form"].get("name") or "").strip()
    return await act(request, _page(name) if name else LIST, f"Channel type {name!r} created.",
                     lambda: ops.create_channel_type(ctx, name))


@routes.get(LIST + "/{name}")
@guarded(page=True)
async def show_type(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    try:
        ct = ops.channel_type(ctx, request.match_info["name"])
    except errors.NotFound as exc:
        return render(request, "error.html", status=404, message=describe(exc))
    grants = ct["grants"]
    return render(request, "channel_type.html", ct=ct, features=ops.FEATURES,
                  roles=ops.grant_roles(ctx, grants),
                  permissions=ops.channel_permissions(),
                  granted={(r, p) for r, ids in grants.items() for p in ids})


@routes.post(LIST + "/{name}/delete")
@guarded()
async def delete_type(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    name = request.match_info["name"]
    return await act(request, _page(name), f"Channel type {name!r} deleted.",
                     lambda: ops.delete_channel_type(ctx, name),
                     failed=f"Channel type {name!r} was not deleted: ", then=LIST)


@routes.post(LIST + "/{name}/feature")
@guarded()
async def switch_feature(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    name = request.match_info["name"]
    form = request["form"]
    feature = str(form.get("feature") or "")
    on = form.get("value") == "on"
    if feature not in ops.FEATURES:
        return redirect(request, _page(name), kind="error", text=f"Unknown feature {feature!r}.")
    return await act(request, _page(name), f"{feature} switched {'on' if on else 'off'}.",
                     lambda: ops.update_channel_type(ctx, name, {feature: on}))


@routes.post(LIST + "/{name}/custom-event-types")
@guarded()
async def set_custom_event_types(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    name = request.match_info["name"]
    raw = str(request["form"].get("types") or "")
    types = [t.strip() for t in raw.replace("\n", ",").split(",") if t.strip()]
    done = ("Any custom event type is accepted." if not types
            else f"Custom event types allowed: {', '.join(types)}.")
    return await act(request, _page(name), done, lambda: ops.update_channel_type(
        ctx, name, {"allowed_custom_event_types": types}))


@routes.post(LIST + "/{name}/grants")
@guarded()
async def set_grants(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    name = request.match_info["name"]
    form = request["form"]
    roles = [str(r) for r in form.getall("role", [])]
    grants: dict[str, list[str]] = {role: [] for role in roles}
    for value in form.getall("grant", []):
        role, _, permission = str(value).partition("|")
        if role in grants:
            grants[role].append(permission)
    return await act(request, _page(name), "Grants saved.", lambda: ops.update_channel_type(
        ctx, name, {"grants": grants}))


@routes.post(LIST + "/{name}/grants/reset")
@guarded()
async def reset_grants(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    name = request.match_info["name"]
    return await act(request, _page(name), "Grants reset to Stream's defaults.",
                     lambda: ops.update_channel_type(ctx, name, {"grants": None}))

