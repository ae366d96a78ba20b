"""What every dashboard page shares: its state on the application, rendering, the sign-in guard,
the CSRF check, flash messages and the security headers.

Guarantees:

- A page or action without a valid session is never run: pages redirect to the sign-in form,
  actions and fragments answer 401.
- A state-changing request (POST) runs only with the session's CSRF token, from the form field
  ``csrf_token`` or the ``X-CSRF-Token`` header (htmx); otherwise 403 and nothing happens.
- An error of the service (the API's own refusal) is shown to the operator with its message and
  Stream code, never swallowed.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jinja2
import orjson
from aiohttp import web

from hubbub import errors
from hubbub.config import Settings
from hubbub.dashboard.sessions import (
    COOKIE,
    FLASH_COOKIE,
    PATH,
    Session,
    SessionCodec,
    SignInLimiter,
)
from hubbub.dashboard.stats import Sampler
from hubbub.service import Context

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class Dashboard:
    """The dashboard's state, one per application."""

    settings: Settings
    ctx: Context
    templates: jinja2.Environment
    limiter: SignInLimiter = field(default_factory=SignInLimiter)
    sampler: Sampler = field(default_factory=Sampler)
    codec: SessionCodec | None = None
    #: Open live-event streams: told to finish at shutdown.
    streams: set[Any] = field(default_factory=set)

    def session_codec(self) -> SessionCodec:
        # Built on first use: the app (and its secret) is loaded when the server starts.
        if self.codec is None:
            assert self.ctx.app is not None
            self.codec = SessionCodec(self.ctx.app.api_secret,
                                      self.settings.dashboard_session_ttl)
        return self.codec

    def session_of(self, request: web.Request) -> Session | None:
        return self.session_codec().read(request.cookies.get(COOKIE))


DASHBOARD_KEY = web.AppKey("dashboard", Dashboard)


def dashboard_of(request: web.Request) -> Dashboard:
    return request.app[DASHBOARD_KEY]


def secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto") == "https"


def render(request: web.Request, template: str, status: int = 200,
           **context: Any) -> web.Response:
    """A page (or, for a template named ``_*``, a fragment for htmx). Only a page shows and
    consumes the one-time message: a fragment polled in the background must not eat it."""
    dash = dashboard_of(request)
    page = not template.startswith("_")
    flash = read_flash(request) if page else None
    html = dash.templates.get_template(template).render(
        request=request, session=request.get("session"), flash=flash, path=request.path,
        **context)
    response = web.Response(text=html, status=status, content_type="text/html",
                            headers=SECURITY_HEADERS)
    if flash is not None:
        response.del_cookie(FLASH_COOKIE, path=PATH)
    return response


def read_flash(request: web.Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {"kind": str(value.get("kind", "")), "text": str(value.get("text", ""))}


def redirect(request: web.Request, location: str, *, kind: str | None = None,
             text: str | None = None) -> web.Response:
    """303 to ``location`` with a one-time message for the next page."""
    response = web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})
    if text is not None:
        value = base64.urlsafe_b64encode(orjson.dumps({"kind": kind or "ok", "text": text}))
        response.set_cookie(FLASH_COOKIE, value.decode().rstrip("="), path=PATH, httponly=True,
                            samesite="Strict", secure=secure(request), max_age=60)
    return response


def describe(exc: errors.HubbubError) -> str:
    """The API's refusal as the operator should read it."""
    return f"{exc.detail} (Stream code {exc.code}, HTTP {exc.status})"


def back_to(form: Any, default: str) -> str:
    """Where an action returns: the form's ``back`` if it is a dashboard page, else default."""
    back = str(form.get("back") or "")
    return back if back.startswith(PATH + "/") or back == PATH else default


View = Callable[[web.Request], Awaitable[web.StreamResponse]]


def guarded(*, page: bool = False) -> Callable[[View], View]:
    """Require a session (and, for POST, its CSRF token). ``page``: a GET of a whole page,
    which redirects to sign-in instead of answering 401."""

    def decorate(fn: View) -> View:
        async def handler(request: web.Request) -> web.StreamResponse:
            dash = dashboard_of(request)
            session = dash.session_of(request)
            if session is None:
                if page and request.method == "GET":
                    target = request.path_qs
                    return web.Response(status=303, headers={
                        "Location": f"{PATH}/signin?next={quote(target, safe='')}"})
                # An htmx request swaps this into the page: say so, with the way back in.
                return web.Response(
                    status=401, content_type="text/html", headers=SECURITY_HEADERS,
                    text=f'<div class="flash flash-error" role="alert">Your session ended: '
                         f'<a href="{PATH}/signin">sign in again</a>.</div>')
            request["session"] = session
            if request.method == "POST":
                form = await request.post()
                request["form"] = form
                token = request.headers.get("X-CSRF-Token") or form.get("csrf_token")
                if not session.csrf_ok(token if isinstance(token, str) else None):
                    return web.Response(status=403, headers=SECURITY_HEADERS,
                                        text="Refused: the form's CSRF token is missing or wrong."
                                             " Reload the page and try again.")
            try:
                return await fn(request)
            except (errors.HubbubError, web.HTTPException):
                raise
            except Exception:
                # Shown, not swallowed: an HTML page for the operator, the details in the log.
                log.exception("dashboard failure on %s %s", request.method, request.path)
                return render(request, "error.html", status=500,
                              message="Internal error (storage or broker unavailable, or a "
                                      "bug): the server log has the details.")

        handler.__name__ = fn.__name__
        handler.__doc__ = fn.__doc__
        return handler

    return decorate


async def act(request: web.Request, default: str, done: str,
              action: Callable[[], Awaitable[Any]], *, failed: str = "",
              then: str | None = None) -> web.Response:
    """Run a state-changing ``action``; back to the page (or to ``then`` after a success) with
    ``done``, or with ``failed`` and the refusal."""
    form = request["form"]
    try:
        await action()
    except errors.HubbubError as exc:
        return redirect(request, back_to(form, default), kind="error",
                        text=f"{failed}{describe(exc)}")
    return redirect(request, then or back_to(form, default), kind="ok", text=done)

