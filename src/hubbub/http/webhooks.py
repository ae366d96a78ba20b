"""Operators' view of the webhook outbox (server-side auth): list deliveries, re-queue dead ones."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hubbub import errors
from hubbub.http.base import Call, endpoint
from hubbub.service.admin import webhooks

routes = web.RouteTableDef()


@routes.get("/webhooks/deliveries")
@endpoint("ListWebhookDeliveries", server_only=True)
async def list_deliveries(call: Call) -> dict[str, Any]:
    try:
        limit = int(call.query("limit") or 100)
        offset = int(call.query("offset") or 0)
    except ValueError as exc:
        raise errors.InputError("limit and offset must be integers") from exc
    found = await webhooks.list_deliveries(call.ctx, call.query("state"), limit, offset)
    return {"deliveries": [d.to_wire() for d in found],
            "counts": await webhooks.counts(call.ctx)}


@routes.post("/webhooks/deliveries/requeue")
@endpoint("RequeueWebhookDeliveries", status=201, server_only=True)
async def requeue(call: Call) -> dict[str, Any]:
    ids = call.body.get("ids")
    if ids is not None and (not isinstance(ids, list)
                            or not all(isinstance(i, str) for i in ids)):
        raise errors.InputError("ids must be an array of delivery ids")
    return {"requeued": await webhooks.requeue_dead(call.ctx, ids)}
