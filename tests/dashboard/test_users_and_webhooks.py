"""Users (search, online state, deactivate/reactivate, revoke tokens, disconnect), channels
(members and roles) and webhooks (a dead letter re-queued and delivered)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from stream_chat import StreamChat

from tests.conftest import Server, sdk_client, uid
from tests.dashboard.conftest import JsClient, needs_node, sign_in


@needs_node
def test_user_search_state_and_actions(
        dash: Any, server: Server, client: StreamChat,
        js_client: Callable[[Server, str, str], JsClient]) -> None:
    prefix = uid("zed")
    user_id, other = prefix + "-a", prefix + "-b"
    client.upsert_users([{"id": user_id, "name": "Zed A", "role": "admin"}, {"id": other}])
    channel_id = uid("ch")
    client.channel("messaging", channel_id, {"members": [user_id]}).create(user_id)
    js = js_client(server, user_id, f"messaging:{channel_id}")

    dash.goto(f"{server.url}/dashboard/users")
    dash.get_by_label("Search by id or name").fill(prefix)  # htmx: no submit needed
    # Until htmx swaps the table, the first page of every user is shown: wait for the result.
    dash.wait_for_url(re.compile(rf".*/dashboard/users\?q={prefix}$"))
    expect(dash.locator("#users-table tbody tr")).to_have_count(2)
    row = dash.locator(f'tr[data-user="{user_id}"]')
    assert dash.locator(f'tr[data-user="{other}"]').count() == 1
    cells = row.locator("td").all_inner_texts()
    assert cells[:4] == ["admin", "online", "1", "active"]

    dash.get_by_role("link", name=user_id).click()
    assert dash.get_by_test_id("user-connections").inner_text() == "1"

    dash.get_by_role("button", name=f"Disconnect {user_id}").click()
    assert dash.get_by_test_id("flash").inner_text() == f"User '{user_id}' disconnected."
    assert js.wait(lambda m: "closed" in m)["closed"] == 4000

    dash.get_by_role("button", name=f"Revoke tokens {user_id}").click()
    assert "tokens issued before now revoked" in dash.get_by_test_id("flash").inner_text()
    found = client.query_users({"id": user_id})["users"][0]
    assert found["revoke_tokens_issued_before"]

    dash.get_by_role("button", name=f"Deactivate {user_id}").click()
    assert dash.get_by_test_id("user-state").inner_text().startswith("deactivated since")
    found = client.query_users({"id": user_id}, include_deactivated_users=True)["users"][0]
    assert found["deactivated_at"]
    dash.get_by_role("button", name=f"Reactivate {user_id}").click()
    assert dash.get_by_test_id("user-state").inner_text() == "active"
    assert client.query_users({"id": user_id})["users"][0].get("deactivated_at") is None

    # The channel's members and their roles.
    dash.goto(f"{server.url}/dashboard/channels?type=messaging&q={channel_id}")
    listed = dash.get_by_role("row").filter(has_text=f"messaging:{channel_id}")
    assert listed.locator("td").first.inner_text() == "1"  # members
    dash.get_by_role("link", name=f"messaging:{channel_id}").click()
    member = dash.get_by_role("row").filter(has_text=user_id)
    assert member.locator("td").all_inner_texts()[:2] == ["channel_member", "admin"]


class Receiver:
    """A webhook receiver that refuses (400) until told to accept."""

    def __init__(self) -> None:
        self.accept = False
        self.seen: list[tuple[str, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = 200 if receiver.accept else 400
                receiver.seen.append((self.headers["X-Webhook-Id"], status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hook"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_dead_letter_is_requeued_from_the_dashboard(
        page: Any, fresh_server: Server, receiver: Receiver) -> None:
    sdk = sdk_client(fresh_server)
    sdk.update_app_settings(webhook_url=receiver.url, webhook_events=["order_placed"])
    sender, channel_id = uid("ola"), uid("ch")
    sdk.upsert_user({"id": sender})
    channel = sdk.channel("messaging", channel_id, {"members": [sender]})
    channel.create(sender)
    channel.send_event({"type": "order_placed", "n": 1}, sender)
    wait_until(lambda: len(receiver.seen) == 1, "the refused delivery")

    def dead() -> list[dict[str, Any]]:
        answer = httpx.get(f"{fresh_server.url}/webhooks/deliveries", params={
            "state": "dead", "api_key": fresh_server.api_key}, headers={
            "Authorization": sdk.auth_token, "stream-auth-type": "jwt"})
        return list(answer.json()["deliveries"])

    wait_until(lambda: len(dead()) == 1, "the dead letter")
    delivery_id = receiver.seen[0][0]

    sign_in(page, fresh_server)
    page.wait_for_url(fresh_server.url + "/dashboard/")
    page.get_by_test_id("dead-letters").filter(has_text="1").wait_for()
    page.get_by_test_id("dead-letters").click()
    row = page.locator(f'tr[data-delivery="{delivery_id}"]')
    assert row.locator("td").all_inner_texts()[1:5] == ["dead", "1", "400", "HTTP 400"]
    assert page.get_by_text(receiver.url).count() >= 1

    receiver.accept = True
    page.get_by_role("button", name=f"Re-queue delivery {delivery_id}").click()
    assert page.get_by_test_id("flash").inner_text() == "1 dead letter(s) re-queued."
    wait_until(lambda: (delivery_id, 200) in receiver.seen, "the re-queued delivery")
    assert dead() == []
    page.goto(f"{fresh_server.url}/dashboard/webhooks?state=delivered")
    row = page.locator(f'tr[data-delivery="{delivery_id}"]')
    assert row.locator("td").all_inner_texts()[1:4] == ["delivered", "1", "200"]  # re-queued: counted afresh
