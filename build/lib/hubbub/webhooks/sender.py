"""Delivers the webhook outbox: at least once, with a stable ``X-Webhook-Id``.

A background task claims due deliveries (a lease, so two processes never send the same one at
once), POSTs them with bounded concurrency, and records each outcome:

- 2xx: delivered;
- timeout, connection error, 408, 429, 5xx: retried with exponential backoff and full jitter,
  until the horizon (counted from the first attempt's creation) has passed; then dead;
- any other status: dead at once (the receiver refuses it; retrying would not help).

A crash loses nothing: an unfinished attempt's lease expires and the delivery is claimed again
(so a receiver may see the same ``X-Webhook-Id`` twice, never a lost one). The sender runs beside
the event fan-out, never in it: a slow receiver slows only its own deliveries.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import aiohttp

from hubbub.core.models import WebhookDelivery
from hubbub.storage.base import Storage, StorageError
from hubbub.webhooks.signing import sign

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 429})
BACKOFF_BASE = 1.0
BACKOFF_CAP = 3600.0
#: Seconds a claim outlives its attempt's timeout: how long a crashed process delays a retry.
LEASE_MARGIN = 5.0


def backoff(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: full jitter over an exponential ceiling."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


class WebhookSender:
    def __init__(self, storage: Storage, *, api_key: str, api_secret: str, concurrency: int,
                 horizon: float, poll_interval: float = 1.0) -> None:
        self.storage = storage
        self.api_key = api_key
        self.api_secret = api_secret
        self.concurrency = concurrency
        self.horizon = horizon
        self.poll_interval = poll_interval
        self.retries = 0
        self.delivered = 0
        self.given_up = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    def notify(self) -> None:
        """New deliveries were enqueued: look now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            headers={"Content-Type": "application/json", "User-Agent": "hubbub-webhooks"})
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                free = self.concurrency - len(self._inflight)
                claimed = (await self.storage.claim_due_webhooks(
                    time.time(), free, lease_seconds=LEASE_MARGIN) if free > 0 else [])
            except StorageError:
                log.exception("webhook outbox unavailable; retrying")
                claimed = []
            for delivery in claimed:
                task = asyncio.create_task(self._attempt(delivery))
                self._inflight.add(task)
                task.add_done_callback(self._done)
            if len(claimed) < max(free, 1):
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                except TimeoutError:
                    pass

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()  # a slot is free: claim more

    async def _attempt(self, delivery: WebhookDelivery) -> None:
        assert self._session is not None
        body = delivery.body.encode()
        delivery.attempts += 1
        headers = {
            "X-Webhook-Id": delivery.id,
            "X-Webhook-Attempt": str(delivery.attempts),
            "X-Api-Key": self.api_key,
            "X-Signature": sign(body, self.api_secret),
        }
        status: int | None = None
        error: str | None = None
        try:
            async with self._session.post(
                    delivery.url, data=body, headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=delivery.timeout)) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            error = f"timed out after {delivery.timeout:g}s"
        except aiohttp.ClientError as exc:
            error = f"{exc.__class__.__name__}: {exc}"[:500]
        except ValueError as exc:  # an unusable URL
            error = f"invalid webhook URL: {exc}"[:500]
            status = 0
        now = time.time()
        delivery.last_status = status
        delivery.last_error = error if error else (
            None if status is not None and 200 <= status < 300 else f"HTTP {status}")
        if status is not None and 200 <= status < 300:
            delivery.state = "delivered"
            delivery.delivered_at = now
            self.delivered += 1
        elif status is None or status in RETRYABLE_STATUSES or status >= 500:
            delay = backoff(delivery.attempts)
            if now + delay > delivery.created_at + self.horizon:
                delivery.state = "dead"
                self.given_up += 1
            else:
                delivery.next_attempt_at = now + delay
                self.retries += 1
        else:
            delivery.state = "dead"
            self.given_up += 1
        try:
            await self.storage.save_webhook_attempt(delivery)
        except StorageError:
            # The lease expires and the delivery is tried again: at least once, not lost.
            log.exception("could not record webhook attempt %s", delivery.id)
