"""Helpers for the API tests: raw HTTP for what the official SDK cannot send, and checks of
Stream's response envelope (error body, ``duration``, rate-limit headers)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from stream_chat import StreamChat
from stream_chat.base.exceptions import StreamAPIException

from tests.conftest import API_KEY, API_SECRET, Server, sdk_client, start_server, uid

__all__ = [
    "API_KEY",
    "API_SECRET",
    "Raw",
    "assert_error",
    "assert_success",
    "make_users",
    "sdk_client",
    "sdk_error",
    "server_token",
    "uid",
    "user_token",
]

RATE_LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
ERROR_KEYS = {"code", "message", "StatusCode", "duration", "more_info", "details"}
DURATION = re.compile(r"^\d+(\.\d+)?ms$")
SERVER = object()  # "use a valid server token"


def server_token(secret: str = API_SECRET) -> str:
    """The token the official SDKs send server-side: exactly ``{"server": true}``."""
    return jwt.encode({"server": True}, secret, algorithm="HS256")


def user_token(user_id: str, secret: str = API_SECRET, **claims: Any) -> str:
    return jwt.encode({**claims, "user_id": user_id}, secret, algorithm="HS256")


class Raw:
    """Plain HTTP against a server, authenticated like the Python SDK unless told otherwise."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=10)

    def request(self, method: str, path: str, *, token: Any = SERVER,
                api_key: str | None = API_KEY, auth_type: str | None = "jwt",
                params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                **kwargs: Any) -> httpx.Response:
        query = dict(params or {})
        if api_key is not None:
            query["api_key"] = api_key
        all_headers = {"X-Stream-Client": "hubbub-api-tests"}
        if token is SERVER:
            token = server_token(self.server.api_secret or API_SECRET)
        if token is not None:
            all_headers["Authorization"] = token
        if auth_type is not None:
            all_headers["stream-auth-type"] = auth_type
        all_headers.update(headers or {})
        return self.http.request(method, path, params=query, headers=all_headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def raw(server: Server) -> Iterator[Raw]:
    r = Raw(server)
    yield r
    r.close()


def assert_rate_limit_headers(resp: httpx.Response) -> None:
    for name in RATE_LIMIT_HEADERS:
        # httpx keeps the names as received: Stream's Python SDK reads them lowercase only.
        assert name in [k.decode() for k, _ in resp.headers.raw], (name, resp.headers)
        assert resp.headers[name].isdigit(), (name, resp.headers[name])


def assert_error(resp: httpx.Response, status: int, code: int) -> dict[str, Any]:
    """``resp`` is Stream's error body with this status and code; returns the body."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert ERROR_KEYS <= set(body), body
    assert body["code"] == code, body
    assert body["StatusCode"] == status, body
    assert isinstance(body["message"], str) and body["message"], body
    assert DURATION.match(body["duration"]), body
    assert body["more_info"] == "https://getstream.io/chat/docs/api_errors_response"
    assert body["details"] == []
    assert "Traceback" not in resp.text
    assert_rate_limit_headers(resp)
    return body


def assert_success(resp: httpx.Response, status: int | tuple[int, ...] = (200, 201)) -> dict[str, Any]:
    statuses = (status,) if isinstance(status, int) else status
    assert resp.status_code in statuses, (resp.status_code, resp.text)
    body = resp.json()
    assert DURATION.match(body.get("duration", "")), body
    assert_rate_limit_headers(resp)
    return body


def sdk_error(excinfo: pytest.ExceptionInfo[StreamAPIException], status: int,
              code: int) -> str:
    """Check a ``StreamAPIException`` from the SDK; return the error message."""
    exc = excinfo.value
    assert exc.status_code == status, exc.response_text
    assert exc.error_code == code, exc.response_text
    return str(exc.error_message)


def make_users(client: StreamChat, n: int, prefix: str = "u", **fields: Any) -> list[str]:
    ids = [uid(prefix) for _ in range(n)]
    client.upsert_users([{"id": i, **fields} for i in ids])
    return ids


#: App-wide settings the tests on ``settings_server`` may change, at their defaults.
DEFAULT_APP_SETTINGS: dict[str, Any] = {
    "revoke_tokens_issued_before": None, "disable_auth_checks": False, "event_hooks": [],
    "webhook_url": "", "webhook_events": [], "guest_user_creation_disabled": False,
    "enforce_unique_usernames": "no", "multi_tenant_enabled": False,
}


@pytest.fixture(scope="session")
def _settings_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("settings"))
    yield srv
    srv.stop()


@pytest.fixture
def settings_server(_settings_server: Server) -> Iterator[Server]:
    """A server of its own for tests that change app-wide settings (kept apart from the
    session's server); the settings are put back after each test, pass or fail."""
    yield _settings_server
    sdk_client(_settings_server).update_app_settings(**DEFAULT_APP_SETTINGS)
