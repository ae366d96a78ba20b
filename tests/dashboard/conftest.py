"""Browser tests of the dashboard: Debian's Chromium driven by Playwright for Python.

Chromium is the system's (``/usr/bin/chromium``, installed by ``make test`` / ``.ci/run``):
Playwright's own browser download is never used. A JS SDK client (``js/client.mjs``, the
official ``stream-chat`` that tests/sdk/js installs) plays the application side.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubbub.auth import create_token
from tests.conftest import API_KEY, API_SECRET, Server

CHROMIUM = os.environ.get("HUBBUB_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
JS_CLIENT = Path(__file__).parent / "js" / "client.mjs"
SDK_MODULES = Path(__file__).parents[1] / "sdk" / "js" / "node_modules" / "stream-chat"

needs_node = pytest.mark.skipif(
    NODE is None or not SDK_MODULES.is_dir(),
    reason="node or tests/sdk/js/node_modules is missing: run `npm ci` in tests/sdk/js")


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for tests/dashboard. Package-scoped: Playwright's sync API runs an event
    loop of its own in this thread, which must be gone before asyncio tests run."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (make test installs chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, server: Server, secret: str = API_SECRET) -> None:
    page.goto(server.url + "/dashboard/")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_label("API secret").fill(secret)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def dash(page: Any, server: Server) -> Any:
    """A page signed in to the session's server."""
    sign_in(page, server)
    page.wait_for_url(server.url + "/dashboard/")
    return page


class JsClient:
    """A connected, watching JS SDK client; see ``js/client.mjs``."""

    def __init__(self, server: Server, user_id: str, cid: str) -> None:
        env = {**os.environ, "HUBBUB_URL": server.url, "HUBBUB_API_KEY": API_KEY,
               "HUBBUB_USER": user_id, "HUBBUB_TOKEN": create_token(API_SECRET, user_id),
               "HUBBUB_CHANNEL": cid}
        env.pop("STREAM_LOCAL_TEST_RUN", None)
        env.pop("STREAM_LOCAL_TEST_HOST", None)
        self.proc = subprocess.Popen([str(NODE), str(JS_CLIENT)], env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.connection_id = self.wait(lambda m: "ready" in m)["ready"]

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(message, dict):
                self.lines.put(message)

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 15) -> Any:
        """The first message (seen or coming) that matches ``pred``."""
        for message in self.seen:
            if pred(message):
                return message
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self.lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                err = self.proc.stderr.read() if self.proc.poll() is not None and \
                    self.proc.stderr else ""
                raise AssertionError(f"JS client: nothing matching within {timeout}s; "
                                     f"seen {self.seen[-10:]} {err}") from None
            self.seen.append(message)
            if "error" in message:
                raise AssertionError(f"JS client failed: {message['error']}")
            if pred(message):
                return message

    def event(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return self.wait(lambda m: "event" in m and pred(m["event"]))["event"]

    def send(self, event: dict[str, Any]) -> dict[str, Any]:
        """``channel.sendEvent``: ``{"sent": event}`` or ``{"refused": {status, code}}``."""
        assert self.proc.stdin is not None
        self.seen = [m for m in self.seen if "sent" not in m and "refused" not in m]
        self.proc.stdin.write(json.dumps({"op": "send", "event": event}) + "\n")
        self.proc.stdin.flush()
        return self.wait(lambda m: "sent" in m or "refused" in m)  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def js_client() -> Iterator[Callable[[Server, str, str], JsClient]]:
    clients: list[JsClient] = []

    def start(server: Server, user_id: str, cid: str) -> JsClient:
        client = JsClient(server, user_id, cid)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
