"""The ``hubbub`` command: ``serve`` and ``token``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from hubbub import auth
from hubbub.config import Settings
from hubbub.node import serve_one
from hubbub.workers import check, run_workers


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
        problem = check(settings)
        if problem:
            sys.exit(f"hubbub: {problem}")
        sys.exit(run_workers(settings))
    serve_one(settings)


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
