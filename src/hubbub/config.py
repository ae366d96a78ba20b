"""Typed configuration: one ``Settings`` object, built from CLI options and ``HUBBUB_*`` variables."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from typing import Any

#: Variables that were renamed: old name -> new name. The old one still works (when the new one
#: is not set) and start-up logs a warning naming the new one.
RENAMED = {"HUBBUB_RATE_LIMIT_SCALE": "HUBBUB_APP_RATE_LIMITS"}


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
    #: Seconds between batched writes of users' ``last_active`` (connects note it in memory).
    last_active_flush_interval: float = 5.0
    #: Bytes that may wait to be written to one WebSocket before that client is disconnected.
    ws_write_buffer_bytes: int = 1024 * 1024
    #: Largest frame a client may send on the WebSocket (past it: close 1009).
    ws_max_frame_bytes: int = 64 * 1024
    #: Frames of any kind (text, binary, ping, pong) a client may send per second on one
    #: connection (past it: error frame, close 1008).
    ws_max_messages_per_second: int = 20
    #: Connections one user may hold open at once on this process (Stream allows 50).
    ws_max_connections_per_user: int = 50
    #: Anonymous connections (no token) this process holds open at once, all callers together.
    ws_max_anonymous_connections: int = 1000
    #: Channels one connection may watch at once (past it: 400, code 4).
    ws_max_watched_channels: int = 1000
    #: When set, ``GET /metrics`` requires ``Authorization: Bearer <this token>`` (else 401).
    metrics_token: str | None = None
    #: Seconds one webhook attempt may take (a hook's ``timeout_ms`` overrides it).
    webhook_timeout: float = 6.0
    #: Seconds after which an undelivered webhook copy is given up on (dead letter).
    webhook_horizon: float = 24 * 3600.0
    #: Webhook attempts in flight at once.
    webhook_concurrency: int = 16
    #: Refuse calls past the rate limits that apply (429, code 9). Off: count and report only.
    rate_limits: bool = True
    #: Calls one user may make client-side to one endpoint per window (Stream: 60). 0: no limit.
    rate_limit_per_user: int = 60
    #: Seconds of the per-user window (Stream: 60).
    rate_limit_window: int = 60
    #: Per-app limits: ``off`` (not enforced), ``stream`` (Stream's table, with its per-second
    #: burst cap), or a positive number that scales Stream's table.
    app_rate_limits: str = "off"
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
    #: Events kept per channel (and per offline user's inbox) for ``/sync``; 0 switches
    #: history off.
    history_size: int = 500
    #: Seconds an event stays in history; 0 switches history off.
    history_ttl: float = 300.0
    log_level: str = "INFO"
    #: One log line per request (at INFO). Off by default: formatting and writing it costs
    #: about a tenth of a ``sendEvent`` call; the reverse proxy in front usually logs requests.
    access_log: bool = False
    #: Serve the dashboard at ``/dashboard``. Unset: on when ``host`` is a loopback address.
    dashboard: bool | None = None
    #: Seconds a dashboard sign-in lasts.
    dashboard_session_ttl: float = 12 * 3600.0
    extra: dict[str, Any] = field(default_factory=dict)
    #: Warnings about the configuration found while reading it (renamed variables), to be logged.
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.rate_limit_per_user < 0:
            raise ValueError("rate_limit_per_user must be 0 (no limit) or more")
        if self.rate_limit_window < 1:
            raise ValueError("rate_limit_window must be at least 1 second")
        self.app_rate_limit_scale  # noqa: B018 - validates app_rate_limits at start-up

    @property
    def app_rate_limit_scale(self) -> float | None:
        """``app_rate_limits`` as a scale of Stream's table; None when the table is off."""
        text = self.app_rate_limits.strip().lower()
        if text in ("", "off", "false", "no", "0"):
            return None
        if text in ("stream", "on", "true", "yes"):
            return 1.0
        try:
            scale = float(text)
        except ValueError:
            scale = math.nan
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError("app_rate_limits must be off, stream or a positive number, "
                             f"not {self.app_rate_limits!r}")
        return scale

    @property
    def dashboard_enabled(self) -> bool:
        """The dashboard is on by default only where nobody else can reach it."""
        if self.dashboard is not None:
            return self.dashboard
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Defaults, then ``HUBBUB_*`` environment variables, then ``overrides`` that are not None."""
        values: dict[str, Any] = {}
        notes: list[str] = []
        for old, new in RENAMED.items():
            if os.environ.get(old) and not os.environ.get(new):
                notes.append(f"{old} is deprecated: set {new} instead (read as {new})")
                values[new.removeprefix("HUBBUB_").lower()] = os.environ[old]
        for f in fields(cls):
            if f.name in ("extra", "notes") or f.name in values:
                continue
            env_name = "HUBBUB_DATABASE_URL" if f.name == "database_url" else f"HUBBUB_{f.name.upper()}"
            cast = {"int": int, "float": float, "bool": bool}.get(str(f.type).split(" ")[0], str)
            values[f.name] = _env(env_name, f.default, cast)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values, notes=tuple(notes))
