"""``/metrics`` for Prometheus: connections, watchers, the webhook outbox and event history.

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

from hubbub.history import HistoryStats

if TYPE_CHECKING:
    from hubbub.service import Context


class HubbubCollector(Collector):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.outbox: dict[str, int] = {}
        self.history: HistoryStats | None = None

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
        yield from self._history()

    def _history(self) -> Iterator[Metric]:
        history = self.ctx.history
        if history is None or self.history is None:
            return
        yield GaugeMetricFamily("hubbub_history_streams",
                                "Channels and inboxes with events kept for /sync",
                                value=self.history.streams)
        yield GaugeMetricFamily("hubbub_history_events", "Events kept for /sync",
                                value=self.history.entries)
        counters = history.counters
        for name, doc, value in (
                ("hubbub_history_recorded", "Channel events recorded by this node",
                 counters.recorded),
                ("hubbub_history_inboxed", "User events kept for users with no connection",
                 counters.inboxed),
                ("hubbub_sync_recoveries", "/sync calls answered (recoveries served)",
                 counters.syncs),
                ("hubbub_sync_events", "Events returned by /sync", counters.synced_events),
                ("hubbub_sync_too_old", "/sync calls refused: history did not reach back",
                 counters.too_old)):
            yield CounterMetricFamily(name, doc, value=value)


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
        if ctx.history is not None:
            collector.history = await ctx.history.stats()
        return web.Response(body=generate_latest(registry),
                            content_type="text/plain", charset="utf-8")

    return handle
