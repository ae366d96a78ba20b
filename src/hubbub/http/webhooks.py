"""Operators' view of the webhook outbox (server-side auth): list deliveries, re-queue dead ones."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from hubbub import errors
from hubbub.http.base import Call, endpoint

routes = web.RouteTableDef()
STATES = ("pending", "delivered", "dead")


@routes.get("/webhooks/deliveries")
@endpoint("ListWebhookDeliveries", server_only=True)
async def list_deliveries(call: Call) -> dict[str, Any]:
    state = call.query("state")
    if state is not None and state not in STATES:
        raise errors.InputError(f"state must be one of {', '.join(STATES)}")
    try:
        limit = int(call.query("limit") or 100)
        offset = int(call.query("offset") or 0)
    except ValueError as exc:
        raise errors.InputError("limit and offset must be integers") from exc
    if not (0 < limit <= 1000 and offset >= 0):
        raise errors.InputError("limit must be 1..1000 and offset >= 0")
    storage = call.ctx.storage
    found = await storage.list_webhooks(state, limit, offset)
    return {"deliveries": [d.to_wire() for d in found],
            "counts": {s: 0 for s in STATES} | await storage.count_webhooks()}


@routes.post("/webhooks/deliveries/requeue")
@endpoint("RequeueWebhookDeliveries", status=201, server_only=True)
async def requeue(call: Call) -> dict[str, Any]:
    ids = call.body.get("ids")
    if ids is not None and (not isinstance(ids, list)
                            or not all(isinstance(i, str) for i in ids)):
        raise errors.InputError("ids must be an array of delivery ids")
    count = await call.ctx.storage.requeue_dead_webhooks(ids, time.time())
    if call.ctx.webhooks is not None:
        call.ctx.webhooks.notify()
    return {"requeued": count}
