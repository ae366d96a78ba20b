"""``/metrics`` for Prometheus: connections, watchers and the webhook outbox.

Open by default (like most exporters); with ``HUBBUB_METRICS_TOKEN`` set it answers only
requests carrying ``Authorization: Bearer <token>`` (401 otherwise).

Values are read when scraped (a collector), so the hot paths carry no metric updates beyond the
sender's own counters.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from hubbub.service import Context


class HubbubCollector(Collector):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.outbox: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        hub = self.ctx.hub
        yield GaugeMetricFamily("hubbub_connections", "Open WebSocket connections",
                                value=len(hub.connections))
        yield GaugeMetricFamily("hubbub_watched_channels", "Channels with a watcher here",
                                value=len(hub.watchers))
        states = GaugeMetricFamily("hubbub_webhook_deliveries",
                                   "Webhook copies in the outbox by state", labels=["state"])
        for state in ("pending", "delivered", "dead"):
            states.add_metric([state], self.outbox.get(state, 0))
        yield states
        sender = self.ctx.webhooks
        if sender is not None:
            yield CounterMetricFamily("hubbub_webhook_delivered", "Webhook copies delivered",
                                      value=sender.delivered)
            yield CounterMetricFamily("hubbub_webhook_retries", "Webhook attempts to retry",
                                      value=sender.retries)
            yield CounterMetricFamily("hubbub_webhook_failed", "Webhook copies given up on",
                                      value=sender.given_up)


def _bearer_matches(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(),
                                                                  token.encode())


def metrics_handler(ctx: Context) -> Callable[[web.Request], Awaitable[web.Response]]:
    registry = CollectorRegistry()
    collector = HubbubCollector(ctx)
    registry.register(collector)

    token = ctx.settings.metrics_token

    async def handle(request: web.Request) -> web.Response:
        if token and not _bearer_matches(request.headers.get("Authorization"), token):
            # Plain text for Prometheus, not Stream's error body: this is no Stream endpoint.
            return web.Response(status=401, text="metrics need the bearer token\n",
                                headers={"WWW-Authenticate": "Bearer"})
        # The outbox counts need the database: read them here, then render synchronously.
        collector.outbox = await ctx.storage.count_webhooks()
        return web.Response(body=generate_latest(registry),
                            content_type="text/plain", charset="utf-8")

    return handle
