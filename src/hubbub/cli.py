"""The ``hubbub`` command: ``serve`` and ``token``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import time

from hubbub import auth
from hubbub.config import Settings


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", dest="database_url",
                        help="database URL (HUBBUB_DATABASE_URL; default sqlite:///./hubbub.db)")
    parser.add_argument("--api-key", help="API key of the app (HUBBUB_API_KEY)")
    parser.add_argument("--api-secret", help="API secret of the app (HUBBUB_API_SECRET)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubbub", description="Self-hosted chat events server, Stream Chat API compatible.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (HUBBUB_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (HUBBUB_PORT; default 8800)")
    serve.add_argument("--broker", dest="broker_url",
                       help="'memory' or a redis:// URL (HUBBUB_BROKER_URL; default memory)")
    serve.add_argument("--workers", type=int,
                       help="processes sharing the port, each a full node (HUBBUB_WORKERS; "
                            "default 1; more need PostgreSQL and a Redis broker)")
    serve.add_argument("--dashboard", action=argparse.BooleanOptionalAction, default=None,
                       help="serve the dashboard at /dashboard (HUBBUB_DASHBOARD; default: on "
                            "when listening on a loopback address)")
    _add_common(serve)
    token = sub.add_parser("token", help="print a user token for the configured app")
    token.add_argument("user_id")
    token.add_argument("--exp", type=int, help="seconds until the token expires")
    _add_common(token)
    return parser


def serve(settings: Settings) -> None:
    if settings.workers > 1:
        from hubbub.workers import check, run_workers

        problem = check(settings)
        if problem:
            sys.exit(f"hubbub: {problem}")
        sys.exit(run_workers(settings))
    serve_one(settings)


def serve_one(settings: Settings, *, reuse_port: bool = False) -> None:
    """One node in this process (``reuse_port``: one of several sharing the port)."""
    from aiohttp import web

    from hubbub.app import AccessLogger, create_app
    from hubbub.broker import BrokerError
    from hubbub.storage.base import StorageError

    if settings.port == 3030:
        sys.exit("port 3030 is rewritten to 8800 by the JS SDK for WebSockets: pick another")
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; other platforms may lack it
        pass
    application = create_app(settings)
    application.on_startup.append(_tune_gc)  # after the app's own start-up (cleanup_ctx)
    try:
        web.run_app(application, host=settings.host, port=settings.port,
                    access_log_class=AccessLogger,
                    access_log=logging.getLogger("aiohttp.access") if settings.access_log else None,
                    shutdown_timeout=5,
                    reuse_port=reuse_port or None,
                    print=lambda msg: print(msg.replace("(Press CTRL+C to quit)", "").strip(),
                                            flush=True))
    except (BrokerError, StorageError) as exc:
        # Unreachable database or Redis at start: one line, not a traceback.
        sys.exit(f"hubbub: cannot start: {exc}")


#: Young-generation collections every 7,000 net allocations instead of 700 (and the older
#: generations as often as before, relative to it).
GC_THRESHOLDS = (7_000, 10, 10)


async def _tune_gc(_app: object) -> None:
    """Garbage collection tuned for a server holding many long-lived connections.

    Everything loaded at start (modules, settings, the app) is moved out of the collector's
    sight (``gc.freeze``), so full collections no longer walk it, and the young generation is
    collected ten times less often. A connection storm allocates tens of objects per
    connection that all survive, and with the defaults the collections they trigger took
    half of the server's time: the benchmark's 5,000 connects went from about 1,300 to
    about 2,700 a second on one core, with the same memory per connection."""
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


async def _stored_secret(settings: Settings) -> str:
    from hubbub.storage.sql import SqlStorage

    storage = SqlStorage(settings.database_url)
    await storage.open()
    try:
        app = await storage.get_app()
    finally:
        await storage.close()
    if app is None:
        sys.exit("no app in the database yet: run 'hubbub serve' once, or pass --api-secret")
    return app.api_secret


def token(settings: Settings, user_id: str, exp: int | None) -> None:
    secret = settings.api_secret or asyncio.run(_stored_secret(settings))
    print(auth.create_token(secret, user_id, exp=int(time.time()) + exp if exp else None))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items()
                 if k in ("host", "port", "database_url", "api_key", "api_secret", "broker_url",
                          "workers", "dashboard")}
    try:
        settings = Settings.from_env(**overrides)
    except ValueError as exc:
        sys.exit(f"hubbub: invalid configuration: {exc}")
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for note in settings.notes:
        logging.getLogger("hubbub.config").warning("%s", note)
    # Migrations run at every start; their step-by-step chatter is noise in the server log.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command == "serve":
        serve(settings)
    else:
        token(settings, args.user_id, args.exp)
