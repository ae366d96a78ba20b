"""Sign-in with the app's API key and secret, and sign-out.

The secret is checked in constant time and dropped: only a signed session cookie reaches the
browser. The sign-in form carries its own double-submit token (a cookie and a hidden field that
must match) so that another site cannot sign a browser in to this dashboard either.
"""

from __future__ import annotations

import hmac
import math
import secrets
from urllib.parse import unquote

from aiohttp import web

from hubbub.dashboard import ops
from hubbub.dashboard.sessions import COOKIE, PATH, SIGNIN_COOKIE
from hubbub.dashboard.web import dashboard_of, guarded, redirect, render, secure

routes = web.RouteTableDef()


def _next(value: object) -> str:
    target = unquote(str(value or ""))
    # Only a dashboard path: never an open redirect to another site.
    return target if target.startswith(PATH + "/") and "//" not in target else PATH + "/"


def _form(request: web.Request, status: int = 200, error: str | None = None,
          api_key: str = "", next_path: str = "") -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "signin.html", status=status, error=error, signin_token=token,
                      api_key=api_key, next_path=next_path or request.query.get("next", ""))
    response.set_cookie(SIGNIN_COOKIE, token, path=PATH, httponly=True, samesite="Strict",
                        secure=secure(request), max_age=3600)
    return response


@routes.get(PATH + "/signin")
async def signin_form(request: web.Request) -> web.Response:
    if dashboard_of(request).session_of(request) is not None:
        return redirect(request, _next(request.query.get("next")))
    return _form(request)


@routes.post(PATH + "/signin")
async def signin(request: web.Request) -> web.Response:
    dash = dashboard_of(request)
    form = await request.post()
    api_key = str(form.get("api_key") or "")
    next_path = str(form.get("next") or "")
    cookie_token = request.cookies.get(SIGNIN_COOKIE, "")
    form_token = str(form.get("signin_token") or "")
    if not cookie_token or not hmac.compare_digest(cookie_token, form_token):
        return _form(request, 403, "The sign-in form expired or came from another site: "
                                   "try again.", api_key, next_path)
    address = request.remote or "unknown"
    wait = dash.limiter.retry_after(address)
    if wait > 0:
        return _form(request, 429, f"Too many failed sign-ins from this address: try again in "
                                   f"{math.ceil(wait)} seconds.", api_key, next_path)
    key, secret = ops.credentials(dash.ctx)
    given_secret = str(form.get("api_secret") or "")
    # Both compared, in constant time, whatever the first gives.
    key_ok = hmac.compare_digest(api_key.encode(), key.encode())
    secret_ok = hmac.compare_digest(given_secret.encode(), secret.encode())
    if not (key_ok and secret_ok):
        dash.limiter.fail(address)
        return _form(request, 401, "Wrong API key or secret.", api_key, next_path)
    _session, cookie = dash.session_codec().issue()
    response = redirect(request, _next(next_path))
    response.set_cookie(COOKIE, cookie, path=PATH, httponly=True, samesite="Strict",
                        secure=secure(request), max_age=int(dash.settings.dashboard_session_ttl))
    response.del_cookie(SIGNIN_COOKIE, path=PATH)
    return response


@routes.post(PATH + "/signout")
@guarded()
async def signout(request: web.Request) -> web.Response:
    dashboard_of(request).session_codec().revoke(request["session"])
    response = redirect(request, PATH + "/signin", kind="ok", text="Signed out.")
    response.del_cookie(COOKIE, path=PATH)
    return response
