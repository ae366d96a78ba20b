"""What every REST endpoint shares: authentication, body parsing, Stream's response envelope.

An endpoint is an async function ``(call) -> dict`` declared with :func:`endpoint`, which names
its Stream operation (for error messages), its success status and whether it is server-only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from hubbub import errors
from hubbub.auth import Principal
from hubbub.config import Settings
from hubbub.core.models import clone
from hubbub.ratelimit import RateLimits, Verdict, platform_of
from hubbub.schemas import check_depth, parse
from hubbub.service import Context
from hubbub.service.shared.authentication import authenticate

CONTEXT_KEY = web.AppKey("context", Context)
SETTINGS_KEY = web.AppKey("settings", Settings)
RATE_LIMITS_KEY = web.AppKey("rate_limits", RateLimits)


def duration_since(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.2f}ms"


def json_response(body: dict[str, Any], status: int,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json",
                        headers=headers)


def api_headers(request: web.Request, verdict: Verdict | None = None) -> dict[str, str]:
    """The headers every API response carries: CORS for browsers (any origin: the API
    authenticates by key and token, never by cookie) and Stream's rate-limit headers, of
    this call's count (``verdict``, or the one the endpoint recorded on the request) or, for
    a call that was not counted, of the app-wide count of its operation.

    Set by each response's maker rather than by an ``on_response_prepare`` hook, which
    costs every request a signal dispatch."""
    if verdict is None:
        verdict = request.get("ratelimit") or request.app[RATE_LIMITS_KEY].peek(
            request.get("operation") or "Other", "web")
    return {"Access-Control-Allow-Origin": "*", "x-ratelimit-limit": str(verdict.limit),
            "x-ratelimit-remaining": str(verdict.remaining),
            "x-ratelimit-reset": str(verdict.reset)}


@dataclass(slots=True)
class Call:
    """One authenticated API call."""

    request: web.Request
    ctx: Context
    principal: Principal
    body: dict[str, Any]
    raw_body: bytes
    #: The body (or ``payload`` query parameter) validated by the endpoint's model, if any.
    data: Any = None

    def param(self, name: str) -> str:
        return self.request.match_info[name]

    def query(self, name: str) -> str | None:
        return self.request.query.get(name)

    def query_bool(self, name: str) -> bool:
        return (self.request.query.get(name) or "").lower() in ("true", "1")

    def query_json(self, name: str) -> dict[str, Any]:
        raw = self.request.query.get(name)
        if raw is None:
            return {}
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise errors.InputError(f"query parameter {name} is not valid JSON") from exc
        if not isinstance(value, dict):
            raise errors.InputError(f"query parameter {name} must be a JSON object")
        check_depth(value)
        return value

    @property
    def connection_id(self) -> str | None:
        return self.request.query.get("connection_id") or None


def rate_limit_key(principal: Principal) -> str:
    """Whose per-user budget a client-side call counts against: the user's, or for anonymous
    callers their client address's (one anonymous client cannot exhaust everyone's)."""
    if principal.user_id is not None:
        return principal.user_id
    return f"anonymous@{principal.address or ''}"


Endpoint = Callable[[Call], Awaitable[dict[str, Any]]]
Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """What the OpenAPI document says of an endpoint (attached to its handler)."""

    operation: str
    status: int
    server_only: bool
    body: type[BaseModel] | None
    payload: type[BaseModel] | None
    summary: str


def endpoint(operation: str, *, status: int = 200, server_only: bool = False,
             body: type[BaseModel] | None = None,
             payload: type[BaseModel] | None = None) -> Callable[[Endpoint], Handler]:
    """Wrap ``fn`` as an aiohttp handler: authenticate, count against rate limits, parse the
    JSON body (validated by ``body``, or the ``payload`` query parameter by ``payload``), call,
    and put the result in Stream's envelope (``duration``)."""

    body_model = body

    def decorate(fn: Endpoint) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            started = time.perf_counter()
            request["operation"] = operation
            ctx = request.app[CONTEXT_KEY]
            principal = await authenticate(
                ctx, request.query.get("api_key"), request.headers.get("Authorization"),
                request.headers.get("stream-auth-type"))
            if principal.anonymous:
                principal = clone(principal, address=request.remote or "")
            limits = request.app[RATE_LIMITS_KEY]
            verdict = await limits.hit(
                operation, platform_of(request, server=principal.server),
                None if principal.server else rate_limit_key(principal))
            request["ratelimit"] = verdict
            if not verdict.allowed:
                raise limits.refusal(operation, verdict)
            if server_only and not principal.server:
                raise errors.NotAllowed(f"{operation} is only available with server-side auth")
            raw = await request.read() if request.can_read_body else b""
            body = {}
            if raw.strip():
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise errors.InputError(f"request body is not valid JSON: {exc}") from exc
                if not isinstance(parsed, dict):
                    raise errors.InputError("request body must be a JSON object")
                check_depth(parsed)
                body = parsed
            call = Call(request, ctx, principal, body, raw)
            if body_model is not None:
                call.data = parse(body_model, body)
            elif payload is not None:
                call.data = parse(payload, call.query_json("payload"))
            result = await fn(call)
            result["duration"] = duration_since(started)
            return json_response(result, status, api_headers(request, verdict))

        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        handler.endpoint_info = EndpointInfo(  # type: ignore[attr-defined]
            operation, status, server_only, body_model, payload,
            (fn.__doc__ or operation).strip().splitlines()[0])
        return handler

    return decorate
