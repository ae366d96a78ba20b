"""The overview's live figures, and every main screen rendered (and photographed).

``HUBBUB_SCREENSHOTS=docs/img pytest tests/dashboard/test_overview_and_screens.py`` refreshes
the README's screenshots; without it they go to the test's temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream_chat import StreamChat

from tests.conftest import Server, uid
from tests.dashboard.conftest import JsClient, needs_node


def figure(dash: Any, name: str) -> str:
    return str(dash.get_by_test_id(name).inner_text())


@needs_node
def test_overview_figures_refresh_without_reload(
        dash: Any, server: Server, client: StreamChat,
        js_client: Callable[[Server, str, str], JsClient]) -> None:
    user_id, channel_id = uid("ovi"), uid("ch")
    client.upsert_user({"id": user_id})
    channel = client.channel("messaging", channel_id, {"members": [user_id]})
    channel.create(user_id)
    before = int(figure(dash, "connections"))
    dash.evaluate("window.notReloaded = true")

    js = js_client(server, user_id, f"messaging:{channel_id}")
    dash.get_by_test_id("connections").filter(has_text=str(before + 1)).wait_for()
    for n in range(5):
        channel.send_event({"type": "overview_tick", "n": n}, user_id)
    js.event(lambda e: e["type"] == "overview_tick" and e["n"] == 4)
    peak = dash.locator("#figures .label").filter(has_text="peak")
    peak.filter(has_not_text="peak 0 ").wait_for()
    assert dash.evaluate("window.notReloaded") is True


def test_main_screens(dash: Any, server: Server, client: StreamChat, tmp_path: Path) -> None:
    out = Path(os.environ.get("HUBBUB_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    users = [{"id": f"{n}-{uid('x')[-4:]}", "name": n.title()} for n in ("ada", "bo", "cy")]
    client.upsert_users(users)
    channel_id = uid("general")
    channel = client.channel("messaging", channel_id, {"members": [u["id"] for u in users]})
    channel.create(users[0]["id"])

    screens = [
        ("/dashboard/", "Overview", "overview"),
        ("/dashboard/channel-types", "Channel types", "channel-types"),
        ("/dashboard/channel-types/messaging", "messaging", "channel-type"),
        (f"/dashboard/users?q={users[0]['id']}", "Users", "users"),
        (f"/dashboard/channels/messaging/{channel_id}", f"messaging:{channel_id}", "channel"),
        ("/dashboard/webhooks", "Webhooks", "webhooks"),
    ]
    for path, heading, name in screens:
        dash.goto(server.url + path)
        assert dash.get_by_role("heading", level=1).inner_text().startswith(heading)
        dash.screenshot(path=str(out / f"dashboard-{name}.png"))

    dash.goto(f"{server.url}/dashboard/live?channel=messaging:{channel_id}")
    dash.locator("#live-state").filter(has_text="live").wait_for()
    channel.send_event({"type": "order_placed", "order": 42}, users[1]["id"])
    dash.locator('#live-events li[data-type="order_placed"]').wait_for()
    dash.screenshot(path=str(out / "dashboard-live.png"))

    # A phone: nothing wider than the screen on the overview.
    dash.set_viewport_size({"width": 390, "height": 844})
    dash.goto(server.url + "/dashboard/")
    assert dash.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    dash.screenshot(path=str(out / "dashboard-phone.png"))
