"""The OpenAPI 3.1 document of the REST API, generated from the routes and their request models.

Each endpoint's handler carries an ``EndpointInfo`` (see ``http.base.endpoint``); request
bodies and ``payload`` query parameters are described by the same pydantic models that validate
them, so the document cannot drift from what the server accepts.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hubbub import __version__
from hubbub.http.base import EndpointInfo

REF = "#/components/schemas/{model}"

API_ERROR = {
    "type": "object",
    "required": ["code", "message", "StatusCode", "duration", "more_info", "details"],
    "properties": {
        "code": {"type": "integer", "description": "Stream error code"},
        "message": {"type": "string"},
        "StatusCode": {"type": "integer"},
        "duration": {"type": "string"},
        "more_info": {"type": "string"},
        "details": {"type": "array", "items": {}},
        "exception_fields": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
SUCCESS = {"type": "object", "required": ["duration"], "properties": {
    "duration": {"type": "string"}}, "additionalProperties": True}


def _endpoints(app: web.Application) -> list[tuple[str, str, EndpointInfo]]:
    out = []
    for route in app.router.routes():
        info = getattr(route.handler, "endpoint_info", None)
        # aiohttp answers HEAD for every GET route: not an operation of its own.
        if route.method == "HEAD":
            continue
        if isinstance(info, EndpointInfo) and route.resource is not None:
            out.append((route.resource.canonical, route.method.lower(), info))
    return out


def build(app: web.Application) -> dict[str, Any]:
    endpoints = _endpoints(app)
    models: list[type[BaseModel]] = sorted(
        {m for _, _, info in endpoints for m in (info.body, info.payload) if m is not None},
        key=lambda m: m.__name__)
    refs, schema = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    components = dict(schema.get("$defs", {}))
    components["APIError"] = API_ERROR
    components["Response"] = SUCCESS
    paths: dict[str, dict[str, Any]] = {}
    for path, method, info in endpoints:
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
            for name in re.findall(r"{(\w+)}", path)]
        if info.payload is not None:
            parameters.append({
                "name": "payload", "in": "query", "required": False,
                "content": {"application/json": {
                    "schema": refs[(info.payload, "validation")]}}})
        operation: dict[str, Any] = {
            "operationId": info.operation,
            "summary": info.summary,
            "parameters": parameters,
            "security": [{"api_key": [], "jwt": [], "auth_type": []}],
            "responses": {
                str(info.status): {"description": "success", "content": {
                    "application/json": {"schema": {"$ref": REF.format(model="Response")}}}},
                "default": {"description": "Stream's error body", "content": {
                    "application/json": {"schema": {"$ref": REF.format(model="APIError")}}}},
            },
        }
        if info.server_only:
            operation["description"] = "Server-side authentication only."
        if info.body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": refs[(info.body, "validation")]}}}
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hubbub (Stream Chat compatible) REST API", "version": __version__},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "api_key": {"type": "apiKey", "in": "query", "name": "api_key"},
                "jwt": {"type": "apiKey", "in": "header", "name": "Authorization",
                        "description": "A raw JWT (no Bearer prefix): server or user token"},
                "auth_type": {"type": "apiKey", "in": "header", "name": "stream-auth-type"},
            },
        },
    }


def handler(app: web.Application) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``GET /openapi.json``. Built once, on first request, when every route is registered."""
    document: dict[str, Any] = {}

    async def serve(_request: web.Request) -> web.Response:
        if not document:
            document.update(build(app))
        return web.json_response(document)

    return serve
