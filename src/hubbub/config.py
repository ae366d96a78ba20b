"""Typed configuration: one ``Settings`` object, built from CLI options and ``HUBBUB_*`` variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any


def _env(name: str, default: Any, cast: type = str) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if cast is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return cast(raw)


@dataclass(frozen=True)
class Settings:
    """Everything an operator can set. Each field has an environment variable ``HUBBUB_<NAME>``."""

    host: str = "127.0.0.1"
    port: int = 8800
    database_url: str = "sqlite:///./hubbub.db"
    #: ``memory`` for one process, or a ``redis://`` URL to fan out across processes and machines.
    broker_url: str = "memory"
    api_key: str | None = None
    api_secret: str | None = None
    #: Largest accepted request body, in bytes (413, code 22 past it).
    max_body_bytes: int = 1024 * 1024
    #: Largest custom event, as JSON, in bytes (413, code 22 past it).
    max_event_bytes: int = 5 * 1024
    #: Seconds between the server's own ``health.check`` frames on an idle connection.
    health_check_interval: float = 25.0
    #: Bytes that may wait to be written to one WebSocket before that client is disconnected.
    ws_write_buffer_bytes: int = 1024 * 1024
    #: Largest frame a client may send on the WebSocket (past it: close 1009).
    ws_max_frame_bytes: int = 64 * 1024
    #: Frames a client may send per second on one connection (past it: error frame, close 1008).
    ws_max_messages_per_second: int = 20
    #: Connections one user may hold open at once on this process (Stream allows 50).
    ws_max_connections_per_user: int = 50
    #: Seconds one webhook attempt may take (a hook's ``timeout_ms`` overrides it).
    webhook_timeout: float = 6.0
    #: Seconds after which an undelivered webhook copy is given up on (dead letter).
    webhook_horizon: float = 24 * 3600.0
    #: Webhook attempts in flight at once.
    webhook_concurrency: int = 16
    #: Refuse calls past Stream's rate limits (429, code 9). Off: count and report only.
    rate_limits: bool = True
    #: Per-minute limit of each endpoint for one user's client-side calls (Stream: 60).
    rate_limit_per_user: int = 60
    #: Multiplier on Stream's per-app endpoint limits.
    rate_limit_scale: float = 1.0
    #: Entries kept per in-memory cache (users, channels, memberships, verified tokens).
    cache_size: int = 50_000
    #: Seconds a cached entry or the cached app settings may be served before they are read
    #: again. Changes made through any process apply at once regardless (broker
    #: invalidation); this only bounds staleness if an invalidation is lost.
    cache_ttl: float = 30.0
    #: Seconds after which the connections of a node that stopped heartbeating (killed,
    #: partitioned) no longer count as online or watching (Redis presence).
    presence_ttl: float = 15.0
    #: Processes ``hubbub serve`` starts, sharing the port (needs PostgreSQL and Redis).
    workers: int = 1
    log_level: str = "INFO"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then ``HUBBUB_*`` environment variables, then ``overrides`` that are not None."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            env_name = "HUBBUB_DATABASE_URL" if f.name == "database_url" else f"HUBBUB_{f.name.upper()}"
            cast = {"int": int, "float": float, "bool": bool}.get(str(f.type).split(" ")[0], str)
            values[f.name] = _env(env_name, f.default, cast)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
