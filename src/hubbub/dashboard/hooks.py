"""Webhooks: the receivers (URL and event types), recent deliveries with their status, attempts
and last error, and dead letters re-queued with one click."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from hubbub import errors
from hubbub.dashboard import ops
from hubbub.dashboard.sessions import PATH
from hubbub.dashboard.web import dashboard_of, describe, guarded, redirect, render

routes = web.RouteTableDef()
HOOKS = PATH + "/webhooks"


def _time(value: float | None) -> str:
    if not value:
        return ""
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


@routes.get(HOOKS)
@guarded(page=True)
async def webhooks(request: web.Request) -> web.Response:
    ctx = dashboard_of(request).ctx
    state = request.query.get("state") or None
    error = None
    found = []
    try:
        found = await ops.deliveries(ctx, state)
    except errors.HubbubError as exc:
        error = describe(exc)
    figures = await ops.figures(ctx)
    return render(request, "webhooks.html", receivers=ops.webhook_receivers(ctx),
                  deliveries=found, counts=figures.webhooks, state=state or "",
                  states=ops.WEBHOOK_STATES, time=_time, error=error)


@routes.post(HOOKS + "/requeue")
@guarded()
async def requeue(request: web.Request) -> web.Response:
    """Re-queue the dead letters named by the form's ``id`` fields, or all of them."""
    ctx = dashboard_of(request).ctx
    ids = [str(i) for i in request["form"].getall("id", [])] or None
    try:
        count = await ops.requeue(ctx, ids)
    except errors.HubbubError as exc:
        return redirect(request, HOOKS + "?state=dead", kind="error", text=describe(exc))
    return redirect(request, HOOKS + "?state=pending", kind="ok",
                    text=f"{count} dead letter(s) re-queued.")
