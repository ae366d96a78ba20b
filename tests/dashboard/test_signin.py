"""Sign-in, sign-out, the session cookie, CSRF and the failed sign-in limit."""

from __future__ import annotations

import re
from typing import Any

import httpx
from stream_chat import StreamChat

from tests.conftest import API_KEY, API_SECRET, Server, uid
from tests.dashboard.conftest import sign_in


def test_wrong_secret_is_refused_and_right_one_signs_in(page: Any, server: Server) -> None:
    sign_in(page, server, secret="not-the-secret")
    assert page.get_by_test_id("signin-error").inner_text() == "Wrong API key or secret."
    assert "/dashboard/signin" in page.url
    assert not [c for c in page.context.cookies() if c["name"] == "hubbub_dashboard"]

    sign_in(page, server)
    page.wait_for_url(server.url + "/dashboard/")
    assert page.get_by_role("heading", name="Overview").is_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "hubbub_dashboard")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    assert API_SECRET not in cookie["value"]
    # The page's JS cannot read the session.
    assert "hubbub_dashboard" not in page.evaluate("document.cookie")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/dashboard/signin"))
    assert page.get_by_test_id("flash").inner_text() == "Signed out."
    page.goto(server.url + "/dashboard/users")
    assert "/dashboard/signin" in page.url


def _signed_in_http(server: Server) -> tuple[httpx.Client, str]:
    """An HTTP client with a dashboard session, and that session's CSRF token."""
    http = httpx.Client(base_url=server.url)
    form = http.get("/dashboard/signin").text
    token = re.search(r'name="signin_token" value="([^"]+)"', form)
    assert token
    answer = http.post("/dashboard/signin", data={
        "api_key": API_KEY, "api_secret": API_SECRET, "signin_token": token.group(1)})
    assert answer.status_code == 303
    page = http.get("/dashboard/channel-types").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    return http, csrf.group(1)


def test_requests_without_session_or_with_forged_csrf_are_refused(
        server: Server, client: StreamChat) -> None:
    name = uid("ct")
    client.create_channel_type({"name": name})
    switch = f"/dashboard/channel-types/{name}/feature"
    form = {"feature": "custom_events", "value": "off"}

    anonymous = httpx.post(server.url + switch, data={**form, "csrf_token": "x"})
    assert anonymous.status_code == 401 and "sign in again" in anonymous.text
    page = httpx.get(server.url + "/dashboard/users")
    assert page.status_code == 303 and "/dashboard/signin" in page.headers["location"]
    forged_cookie = httpx.post(server.url + switch, data={**form, "csrf_token": "x"},
                               cookies={"hubbub_dashboard": "eyJzaWQiOiJ4In0.forged"})
    assert forged_cookie.status_code == 401

    http, csrf = _signed_in_http(server)
    try:
        forged = http.post(switch, data={**form, "csrf_token": csrf[:-2] + "xx"})
        assert forged.status_code == 403
        missing = http.post(switch, data=form)
        assert missing.status_code == 403
        assert client.get_channel_type(name)["custom_events"] is True

        # The same request with the session's token goes through (the check is what refused).
        done = http.post(switch, data={**form, "csrf_token": csrf})
        assert done.status_code == 303
        assert client.get_channel_type(name)["custom_events"] is False
        header = http.post(switch, data={"feature": "custom_events", "value": "on"},
                           headers={"X-CSRF-Token": csrf})
        assert header.status_code == 303
        assert client.get_channel_type(name)["custom_events"] is True
    finally:
        http.close()


def test_failed_sign_ins_are_rate_limited(fresh_server: Server) -> None:
    with httpx.Client(base_url=fresh_server.url) as http:
        def attempt(secret: str) -> httpx.Response:
            form = http.get("/dashboard/signin").text
            token = re.search(r'name="signin_token" value="([^"]+)"', form)
            assert token
            return http.post("/dashboard/signin", data={
                "api_key": API_KEY, "api_secret": secret, "signin_token": token.group(1)})

        assert [attempt("wrong").status_code for _ in range(5)] == [401] * 5
        blocked = attempt(API_SECRET)
        assert blocked.status_code == 429
        assert "Too many failed sign-ins" in blocked.text
        assert "hubbub_dashboard=" not in blocked.headers.get("set-cookie", "")
    assert API_SECRET not in fresh_server.log() and "wrong" not in fresh_server.log()


def test_sign_in_form_from_another_site_is_refused(server: Server) -> None:
    # No double-submit cookie: the form was not served by this dashboard.
    answer = httpx.post(server.url + "/dashboard/signin", data={
        "api_key": API_KEY, "api_secret": API_SECRET, "signin_token": "made-up"})
    assert answer.status_code == 403
    assert "hubbub_dashboard=" not in answer.headers.get("set-cookie", "")


def test_dashboard_is_on_by_default_on_loopback_and_can_be_switched_off(
        monkeypatch: Any) -> None:
    from hubbub.app import create_app
    from hubbub.cli import build_parser
    from hubbub.config import Settings

    def served(argv: list[str]) -> bool:
        args = vars(build_parser().parse_args(["serve", *argv]))
        settings = Settings.from_env(host=args["host"], dashboard=args["dashboard"],
                                     database_url="sqlite:///:memory:")
        routes = {r.resource.canonical for r in create_app(settings).router.routes()
                  if r.resource is not None}
        return "/dashboard/signin" in routes

    monkeypatch.delenv("HUBBUB_DASHBOARD", raising=False)
    assert served([]) and served(["--host", "::1"])
    assert not served(["--no-dashboard"])
    assert not served(["--host", "0.0.0.0"])
    assert served(["--host", "0.0.0.0", "--dashboard"])
    monkeypatch.setenv("HUBBUB_DASHBOARD", "false")
    assert not served([])
    assert served(["--dashboard"])
