"""One node in this process: the aiohttp application on its event loop, serving until a
signal (``hubbub serve``, and each worker of ``hubbub serve --workers N``)."""

from __future__ import annotations

import gc
import logging
import sys

from hubbub.config import Settings


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
