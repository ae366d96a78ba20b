"""The dashboard: a browser UI at ``/dashboard`` served by ``hubbub serve`` itself.

Server-rendered pages (Jinja2 templates shipped in the package) with a light touch of JS: htmx
(vendored in ``static/``) refreshes the figures and sends test events, a small script shows the
live events. Nothing to build or install for the user, no CDN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import jinja2
from aiohttp import web

from hubbub.config import Settings
from hubbub.dashboard import hooks, live, overview, people, signin, types
from hubbub.dashboard.ops import deliveries_total
from hubbub.dashboard.sessions import PATH
from hubbub.dashboard.web import DASHBOARD_KEY, Dashboard
from hubbub.service import Context

HERE = Path(__file__).parent


def templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["PATH"] = PATH
    return env


def mount(application: web.Application, settings: Settings, ctx: Context) -> None:
    """Add the dashboard's routes, static files and background sampler to ``application``."""
    dash = Dashboard(settings=settings, ctx=ctx, templates=templates())
    application[DASHBOARD_KEY] = dash
    for module in (signin, overview, types, people, live, hooks):
        application.add_routes(module.routes)
    application.router.add_static(PATH + "/static", HERE / "static")
    application.on_shutdown.append(live.close_streams)

    async def sampler(_app: web.Application) -> AsyncIterator[None]:
        dash.sampler.start(lambda: deliveries_total(ctx))
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        print(f"Dashboard: http://{host}:{settings.port}{PATH} (sign in with the API key and "
              "secret)", flush=True)
        yield
        await dash.sampler.stop()

    application.cleanup_ctx.append(sampler)
