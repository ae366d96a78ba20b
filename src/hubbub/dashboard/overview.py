"""The overview: live figures of this server, refreshed by the page every few seconds."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubbub.dashboard import ops
from hubbub.dashboard.sessions import PATH
from hubbub.dashboard.web import dashboard_of, guarded, redirect, render

routes = web.RouteTableDef()


async def _figures(request: web.Request) -> dict[str, Any]:
    dash = dashboard_of(request)
    return {"figures": await ops.figures(dash.ctx), "sampler": dash.sampler}


@routes.get(PATH)
async def root(request: web.Request) -> web.Response:
    return redirect(request, PATH + "/")


@routes.get(PATH + "/")
@guarded(page=True)
async def overview(request: web.Request) -> web.Response:
    return render(request, "overview.html", **await _figures(request))


@routes.get(PATH + "/figures")
@guarded()
async def figures(request: web.Request) -> web.Response:
    """The figures alone (htmx polls this fragment)."""
    return render(request, "_figures.html", **await _figures(request))
