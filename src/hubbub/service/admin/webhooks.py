"""The webhook outbox as operators see it: deliveries by state, dead letters re-queued."""

from __future__ import annotations

import time

from hubbub import errors
from hubbub.core.models import WebhookDelivery
from hubbub.service.shared.context import Context

STATES = ("pending", "delivered", "dead")


async def list_deliveries(ctx: Context, state: str | None, limit: int,
                          offset: int) -> list[WebhookDelivery]:
    if state is not None and state not in STATES:
        raise errors.InputError(f"state must be one of {', '.join(STATES)}")
    if not (0 < limit <= 1000 and offset >= 0):
        raise errors.InputError("limit must be 1..1000 and offset >= 0")
    return await ctx.storage.list_webhooks(state, limit, offset)


async def counts(ctx: Context) -> dict[str, int]:
    """Deliveries per state (every state present)."""
    return {s: 0 for s in STATES} | await ctx.storage.count_webhooks()


async def requeue_dead(ctx: Context, ids: list[str] | None) -> int:
    """Dead letters (all, or those of ``ids``) back to pending, due now; the sender is woken."""
    count = await ctx.storage.requeue_dead_webhooks(ids, time.time())
    if ctx.webhooks is not None:
        ctx.webhooks.notify()
    return count
