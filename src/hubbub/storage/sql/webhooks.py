"""The webhook outbox: durable deliveries, leased to one sender at a time, retried, dead-lettered
and requeued."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select

from hubbub.core.models import WebhookDelivery
from hubbub.storage.sql.engine import SqlEngine, from_row, translated
from hubbub.storage.tables import webhook_deliveries


def webhook_row(d: WebhookDelivery) -> dict[str, Any]:
    return asdict(d)


def webhook_from_row(row: Any) -> WebhookDelivery:
    return from_row(WebhookDelivery, row)


class WebhookStore(SqlEngine):
    @translated
    async def enqueue_webhooks(self, batch: list[WebhookDelivery]) -> None:
        if not batch:
            return
        async with self._engine.begin() as conn:
            await conn.execute(webhook_deliveries.insert(), [webhook_row(d) for d in batch])

    @translated
    async def claim_due_webhooks(self, now: float, limit: int,
                                 lease_seconds: float) -> list[WebhookDelivery]:
        """Pending deliveries that are due and not leased, leased to the caller for their
        own timeout plus ``lease_seconds``. The conditional update makes each claim exclusive
        across processes: two senders never hold the same delivery at once."""
        wd = webhook_deliveries
        due = select(wd).where(wd.c.state == "pending", wd.c.next_attempt_at <= now,
                               wd.c.lease_until <= now).order_by(
            wd.c.next_attempt_at).limit(limit)
        claimed = []
        async with self._engine.begin() as conn:
            for row in (await conn.execute(due)).all():
                result = await conn.execute(wd.update().where(
                    wd.c.id == row.id, wd.c.state == "pending", wd.c.lease_until <= now,
                ).values(lease_until=now + row.timeout + lease_seconds))
                if result.rowcount:
                    delivery = webhook_from_row(row)
                    delivery.lease_until = now + row.timeout + lease_seconds
                    claimed.append(delivery)
        return claimed

    @translated
    async def save_webhook_attempt(self, delivery: WebhookDelivery) -> None:
        """Record an attempt's outcome and release the lease."""
        wd = webhook_deliveries
        async with self._engine.begin() as conn:
            await conn.execute(wd.update().where(wd.c.id == delivery.id).values(
                state=delivery.state, attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at, lease_until=0.0,
                last_status=delivery.last_status, last_error=delivery.last_error,
                delivered_at=delivery.delivered_at))

    @translated
    async def list_webhooks(self, state: str | None, limit: int,
                            offset: int) -> list[WebhookDelivery]:
        wd = webhook_deliveries
        stmt = select(wd)
        if state:
            stmt = stmt.where(wd.c.state == state)
        stmt = stmt.order_by(wd.c.created_at, wd.c.id).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            return [webhook_from_row(r) for r in (await conn.execute(stmt)).all()]

    @translated
    async def requeue_dead_webhooks(self, ids: list[str] | None, now: float) -> int:
        wd = webhook_deliveries
        stmt = wd.update().where(wd.c.state == "dead")
        if ids is not None:
            stmt = stmt.where(wd.c.id.in_(ids))
        async with self._engine.begin() as conn:
            result = await conn.execute(stmt.values(state="pending", next_attempt_at=now,
                                                    attempts=0, created_at=now,
                                                    lease_until=0.0))
            return int(result.rowcount)

    @translated
    async def count_webhooks(self) -> dict[str, int]:
        wd = webhook_deliveries
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(wd.c.state, func.count()).group_by(
                wd.c.state))).all()
        return {row[0]: int(row[1]) for row in rows}
