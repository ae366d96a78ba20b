"""Property-based fuzzing of the REST API from its own OpenAPI document (schemathesis).

Every generated request goes to a real server with a valid server token; whatever the input,
the server must answer without a 5xx, and every error must be Stream's error body.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from hubbub.app import create_app
from hubbub.config import Settings
from hubbub.openapi import build
from tests.conftest import Server, sdk_client, start_server

schema = schemathesis.openapi.from_dict(build(create_app(Settings())))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: fuzzing changes app-wide settings."""
    server = start_server(tmp_path_factory.mktemp("fuzz"))
    yield server
    server.stop()


def test_document_is_served_and_covers_the_api(fuzz_server: Server) -> None:
    document = httpx.get(f"{fuzz_server.url}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    operations = {op["operationId"] for path in document["paths"].values()
                  for op in path.values()}
    assert {"SendEvent", "SendUserCustomEvent", "GetOrCreateChannel", "QueryChannels",
            "UpdateUsers", "CreateChannelType", "UpdateApp"} <= operations
    send = document["paths"]["/channels/{type}/{id}/event"]["post"]
    assert send["requestBody"]["content"]["application/json"]["schema"]


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_stream_error_bodies(case: schemathesis.Case,
                                                  fuzz_server: Server) -> None:
    token = sdk_client(fuzz_server).auth_token
    case.query = {**(case.query or {}), "api_key": str(fuzz_server.api_key)}
    case.headers = {**(case.headers or {}), "Authorization": token, "stream-auth-type": "jwt"}
    response = case.call(base_url=fuzz_server.url, timeout=10)
    assert response.status_code < 500, response.text
    if case.method in ("OPTIONS", "HEAD"):
        return  # CORS pre-flight and HEAD answer without a body
    body = response.json()
    if response.status_code >= 400:
        assert {"code", "message", "StatusCode", "duration", "more_info", "details"} <= set(body)
        assert body["StatusCode"] == response.status_code
    else:
        assert "duration" in body


def test_fuzz_server_still_healthy(fuzz_server: Server) -> None:
    assert httpx.get(f"{fuzz_server.url}/healthz").status_code == 200
    assert Path(fuzz_server.log_path or "").exists()
    assert "Traceback" not in fuzz_server.log()
