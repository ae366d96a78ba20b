"""Channel types from the dashboard: features with one click (seen by a JS SDK client), the API's
refusal to delete a type with channels, allowed custom event types, the grants matrix."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from stream_chat import StreamChat

from tests.conftest import Server, uid
from tests.dashboard.conftest import JsClient, needs_node


def make_type_with_channel(client: StreamChat) -> tuple[str, str, str]:
    name, user_id, channel_id = uid("ct"), uid("ann"), uid("ch")
    client.create_channel_type({"name": name})
    client.upsert_user({"id": user_id})
    client.channel(name, channel_id, {"members": [user_id]}).create(user_id)
    return name, user_id, channel_id


def switch(dash: Any, feature: str) -> Any:
    return dash.locator(f'button[role="switch"][data-feature="{feature}"]')


@needs_node
def test_custom_events_switched_off_and_on_reach_a_js_sdk_client(
        dash: Any, server: Server, client: StreamChat,
        js_client: Callable[[Server, str, str], JsClient]) -> None:
    name, user_id, channel_id = make_type_with_channel(client)
    js = js_client(server, user_id, f"{name}:{channel_id}")
    assert "sent" in js.send({"type": "before_switch"})

    dash.goto(f"{server.url}/dashboard/channel-types/{name}")
    assert switch(dash, "custom_events").get_attribute("aria-checked") == "true"
    switch(dash, "custom_events").click()
    assert dash.get_by_test_id("flash").inner_text() == "custom_events switched off."
    assert switch(dash, "custom_events").get_attribute("aria-checked") == "false"
    assert client.get_channel_type(name)["custom_events"] is False

    refused = js.send({"type": "while_off"})
    assert refused["refused"]["status"] == 400, refused

    # Keyboard: focus the switch and press Enter.
    switch(dash, "custom_events").focus()
    dash.keyboard.press("Enter")
    dash.get_by_test_id("flash").filter(has_text="custom_events switched on.").wait_for()
    assert switch(dash, "custom_events").get_attribute("aria-checked") == "true"

    accepted = js.send({"type": "after_switch", "n": 2})
    assert accepted["sent"]["type"] == "after_switch"
    assert js.event(lambda e: e["type"] == "after_switch")["n"] == 2


def test_deleting_a_type_with_channels_shows_the_api_refusal(
        dash: Any, server: Server, client: StreamChat) -> None:
    name, _, _ = make_type_with_channel(client)
    dash.goto(f"{server.url}/dashboard/channel-types/{name}")
    dash.get_by_role("button", name=f"Delete channel type {name}").click()
    flash = dash.get_by_test_id("flash")
    assert re.search(rf"Channel type '{name}' was not deleted: .*still has channels.*"
                     r"Stream code 4, HTTP 400", flash.inner_text())
    assert client.get_channel_type(name)["name"] == name

    # A new, empty type is created and deleted from the dashboard.
    empty = uid("empty")
    dash.goto(f"{server.url}/dashboard/channel-types")
    dash.get_by_label("Name").fill(empty)
    dash.get_by_role("button", name="Create").click()
    assert dash.get_by_test_id("flash").inner_text() == f"Channel type '{empty}' created."
    assert client.get_channel_type(empty)["custom_events"] is True
    dash.get_by_role("button", name=f"Delete channel type {empty}").click()
    assert dash.get_by_test_id("flash").inner_text() == f"Channel type '{empty}' deleted."
    assert dash.get_by_role("link", name=empty).count() == 0


def test_allowed_custom_event_types_are_edited_and_validated(
        dash: Any, server: Server, client: StreamChat) -> None:
    name, _, _ = make_type_with_channel(client)
    dash.goto(f"{server.url}/dashboard/channel-types/{name}")
    field = dash.get_by_label("Types, comma-separated")
    field.fill("order_placed, order_shipped")
    dash.get_by_role("button", name="Save", exact=True).click()
    assert dash.get_by_test_id("flash").inner_text() == \
        "Custom event types allowed: order_placed, order_shipped."
    assert client.get_channel_type(name)["allowed_custom_event_types"] == [
        "order_placed", "order_shipped"]

    dash.get_by_label("Types, comma-separated").fill("message.new")
    dash.get_by_role("button", name="Save", exact=True).click()
    assert "allowed_custom_event_types must be an array of event types without '.'" in \
        dash.get_by_test_id("flash").inner_text()
    assert client.get_channel_type(name)["allowed_custom_event_types"] == [
        "order_placed", "order_shipped"]


def test_grants_matrix_saves_and_resets_to_defaults(
        dash: Any, server: Server, client: StreamChat) -> None:
    name, _, _ = make_type_with_channel(client)
    defaults = client.get_channel_type(name)["grants"]
    assert "send-custom-event" in defaults["channel_member"]

    dash.goto(f"{server.url}/dashboard/channel-types/{name}")
    box = dash.get_by_label("channel_member: send-custom-event", exact=True)
    assert box.is_checked()
    box.uncheck()
    dash.get_by_label("guest: read-channel", exact=True).check()
    dash.get_by_role("button", name="Save grants").click()
    assert dash.get_by_test_id("flash").inner_text() == "Grants saved."
    grants = client.get_channel_type(name)["grants"]
    assert "send-custom-event" not in grants["channel_member"]
    assert grants["guest"] == ["read-channel"]
    assert not dash.get_by_label("channel_member: send-custom-event", exact=True).is_checked()

    dash.get_by_role("button", name="Reset to Stream's defaults").click()
    assert dash.get_by_test_id("flash").inner_text() == "Grants reset to Stream's defaults."
    assert client.get_channel_type(name)["grants"] == defaults
