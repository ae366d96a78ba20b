"""Live events: a test event sent from the live view shows in the live view and at a connected
JS SDK client; pause, filter, errors; a user's events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stream_chat import StreamChat

from tests.conftest import Server, uid
from tests.dashboard.conftest import JsClient, needs_node


def rows(dash: Any, event_type: str) -> Any:
    return dash.locator(f'#live-events li[data-type="{event_type}"]')


def open_live(dash: Any, server: Server, query: str) -> None:
    dash.goto(f"{server.url}/dashboard/live?{query}")
    dash.locator("#live-state").filter(has_text="live").wait_for()


@needs_node
def test_test_event_from_live_view_reaches_live_view_and_js_client(
        dash: Any, server: Server, client: StreamChat,
        js_client: Callable[[Server, str, str], JsClient]) -> None:
    sender, watcher, channel_id = uid("sam"), uid("wes"), uid("ch")
    client.upsert_users([{"id": sender, "name": "Sam"}, {"id": watcher}])
    channel = client.channel("messaging", channel_id, {"members": [sender, watcher]})
    channel.create(sender)
    js = js_client(server, watcher, f"messaging:{channel_id}")

    open_live(dash, server, f"channel=messaging:{channel_id}")
    dash.get_by_label("Event type").fill("dashboard_ping")
    dash.get_by_label("As user (id)").fill(sender)
    dash.get_by_label("Extra fields (JSON object)").fill('{"text": "hello from the test"}')
    dash.get_by_role("button", name="Send server-side").click()
    assert dash.get_by_test_id("send-ok").inner_text() == "Sent dashboard_ping."

    shown = rows(dash, "dashboard_ping")
    shown.wait_for()
    assert f"by {sender}" in shown.inner_text()
    assert '"text": "hello from the test"' in shown.locator("pre").inner_text()
    received = js.event(lambda e: e["type"] == "dashboard_ping")
    assert received["user"]["id"] == sender and received["text"] == "hello from the test"
    assert received["cid"] == f"messaging:{channel_id}"

    # Pause: an event sent meanwhile is held, then shown on resume.
    dash.get_by_role("button", name="Pause").click()
    channel.send_event({"type": "while_paused"}, sender)
    js.event(lambda e: e["type"] == "while_paused")
    dash.locator("#live-count").filter(has_text="1 held while paused").wait_for()
    assert rows(dash, "while_paused").count() == 0
    dash.get_by_role("button", name="Resume").click()
    rows(dash, "while_paused").wait_for()

    # Filter by type.
    dash.get_by_label("Filter by type").fill("ping")
    assert rows(dash, "while_paused").is_hidden()
    assert rows(dash, "dashboard_ping").is_visible()

    # The API's refusal is shown, and nothing is sent.
    dash.get_by_label("As user (id)").fill(uid("nobody"))
    dash.get_by_role("button", name="Send server-side").click()
    assert "does not exist" in dash.get_by_test_id("send-error").inner_text()


@needs_node
def test_user_live_view_shows_user_events(
        dash: Any, server: Server, client: StreamChat,
        js_client: Callable[[Server, str, str], JsClient]) -> None:
    target, channel_id = uid("tia"), uid("ch")
    client.upsert_user({"id": target})
    client.channel("messaging", channel_id, {"members": [target]}).create(target)
    js = js_client(server, target, f"messaging:{channel_id}")

    open_live(dash, server, f"user={target}")
    dash.get_by_label("Event type").fill("user_ping")
    dash.get_by_role("button", name="Send server-side").click()
    assert dash.get_by_test_id("send-ok").inner_text() == "Sent user_ping."
    rows(dash, "user_ping").wait_for()
    assert js.event(lambda e: e["type"] == "user_ping")["user"]["id"] == target

    # The channels its connection watches come along.
    client.channel("messaging", channel_id).send_event({"type": "in_channel"}, target)
    rows(dash, "in_channel").wait_for()
