"""The aiohttp application: routes, the one place errors become Stream's error body, CORS,
rate-limit headers, and the service's lifecycle."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from hubbub import errors, openapi, service
from hubbub.broker import BrokerError, create_broker
from hubbub.config import Settings
from hubbub.http import app as app_routes
from hubbub.http import channel_types, channels, commands, events, users, webhooks
from hubbub.http.base import (
    CONTEXT_KEY,
    RATE_LIMITS_KEY,
    SETTINGS_KEY,
    api_headers,
    duration_since,
    json_response,
)
from hubbub.metrics import metrics_handler
from hubbub.ratelimit import RateLimits
from hubbub.storage.base import StorageError
from hubbub.storage.sql import SqlStorage
from hubbub.ws import connect

log = logging.getLogger(__name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Authorization, stream-auth-type, X-Stream-Client, x-client-request-id, Content-Type, "
        "x-stream-ext"),
    "Access-Control-Max-Age": "86400",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def render_error(request: web.Request, exc: errors.HubbubError, started: float) -> web.Response:
    body = errors.error_body(exc, operation=request.get("operation"),
                             duration=duration_since(started))
    # The dashboard is same-origin only: no CORS, and no API rate-limit headers.
    dashboard = request.path.startswith("/dashboard")
    response = json_response(body, exc.status, None if dashboard else api_headers(request))
    if exc.status == 503:
        response.headers["Retry-After"] = "1"
    return response


@web.middleware
def error_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Every failure leaves as Stream's error body; a client's mistake is never a 500.

    Not a coroutine itself: the WebSocket handler, which reports its own errors as frames,
    is handed back as it is, so an open connection does not hold this frame (a few hundred
    bytes per socket, for as long as the socket lives)."""
    if request.match_info.handler is connect.handle:
        return handler(request)
    return _guarded(request, handler)


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    if request.method == "OPTIONS":
        return web.Response(status=204, headers={**api_headers(request), **CORS_HEADERS})
    try:
        return await handler(request)
    except errors.HubbubError as exc:
        return render_error(request, exc, started)
    except web.HTTPNotFound:
        return render_error(request, errors.RouteNotFound(
            f"no such endpoint: {request.method} {request.path}"), started)
    except web.HTTPMethodNotAllowed:
        return render_error(request, errors.MethodNotAllowed(
            f"method {request.method} is not allowed on {request.path}"), started)
    except web.HTTPRequestEntityTooLarge:
        return render_error(request, errors.PayloadTooBig(
            f"request body is larger than {request.app[SETTINGS_KEY].max_body_bytes} bytes"),
            started)
    except web.HTTPException as exc:
        return render_error(request, errors.InputError(exc.reason or "bad request"), started)
    except BrokerError:
        # Expected during a Redis outage (the broker logs the outage once): no traceback.
        log.debug("broker failure on %s %s", request.method, request.path, exc_info=True)
        return render_error(request, errors.Unavailable(
            "the event broker is unavailable; retry the call"), started)
    except StorageError:
        log.exception("storage failure on %s %s", request.method, request.path)
        return render_error(request, errors.InternalError("storage is unavailable"), started)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(request, errors.InternalError("internal error"), started)


def _with_api_headers(handler: Handler) -> Handler:
    """``handler`` (one not made with ``http.base.endpoint``), its responses carrying
    :func:`~hubbub.http.base.api_headers`."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        response = await handler(request)
        response.headers.update(api_headers(request))
        return response

    return wrapped


class AccessLogger(AbstractAccessLogger):
    """One readable line per request. The path only: query strings carry tokens (WebSocket
    ``authorization``) and must never reach a log."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %s %.1fms", request.remote, request.method, request.path,
                         response.status, time * 1000)


def _health(request: web.Request) -> dict[str, Any]:
    ctx = request.app[CONTEXT_KEY]
    broker = "connected" if ctx.broker.connected else "disconnected"
    return {"status": "ok" if ctx.broker.connected else "degraded", "broker": broker,
            "node": ctx.caches.node}


async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 while the process serves, with the broker's state (``connected`` or
    ``disconnected``: then events reach this node's connections only, see the README)."""
    return json_response(_health(request), 200, api_headers(request))


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 503 while the broker is down, so a load balancer drains this node."""
    body = _health(request)
    return json_response(body, 200 if body["broker"] == "connected" else 503,
                         api_headers(request))


async def hi(request: web.Request) -> web.Response:
    # Every success body carries ``duration``, even the warm-up ping's.
    return json_response({"duration": duration_since(time.perf_counter())}, 200,
                         api_headers(request))


def create_app(settings: Settings) -> web.Application:
    """The whole server as one aiohttp application (REST and WebSocket on one port)."""
    application = web.Application(middlewares=[error_middleware],
                                  client_max_size=settings.max_body_bytes)
    ctx = service.create_context(settings, SqlStorage(settings.database_url),
                                 create_broker(settings.broker_url))
    application[CONTEXT_KEY] = ctx
    application[SETTINGS_KEY] = settings
    shared = None
    if settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        from hubbub.ratelimit_shared import SharedCounter

        # Counted in Redis: a user spreading calls over the nodes gets one limit, not N.
        shared = SharedCounter(settings.broker_url)
    rate_limits = RateLimits(enabled=settings.rate_limits, per_user=settings.rate_limit_per_user,
                             user_window=settings.rate_limit_window,
                             app_scale=settings.app_rate_limit_scale, shared=shared)
    application[RATE_LIMITS_KEY] = rate_limits
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/readyz", readyz)
    application.router.add_get("/hi", hi)
    application.router.add_get("/connect", connect.handle)
    application.on_shutdown.append(connect.close_connections)
    application.router.add_get("/metrics", _with_api_headers(metrics_handler(ctx)))
    application.router.add_get("/openapi.json", _with_api_headers(openapi.handler(application)))
    # Events first: routes sharing a prefix (/channels/...) are matched in the order added,
    # and sendEvent is the call made most.
    for module in (events, users, channel_types, commands, channels, app_routes, webhooks):
        application.add_routes(module.routes)

    async def lifecycle(app: web.Application) -> Any:
        await service.start(ctx)
        if ctx.created_credentials:
            assert ctx.app is not None
            print(f"Created a new app. API key: {ctx.app.api_key}  "
                  f"API secret: {ctx.app.api_secret}\n"
                  "These are shown once; they are kept in the database.", flush=True)
        yield
        await service.stop(ctx)
        if shared is not None:
            await shared.close()

    application.cleanup_ctx.append(lifecycle)
    if settings.dashboard_enabled:
        # After the lifecycle: its start-up (and its note) follow the app's.
        from hubbub import dashboard

        dashboard.mount(application, settings, ctx)
    return application
