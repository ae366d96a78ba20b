"""``hubbub serve --workers N``: N processes on one machine sharing one port.

Each worker is a full node (its own connections, caches and presence heartbeat) over the
configured PostgreSQL database and Redis broker, exactly as N machines would be; the kernel
spreads new connections between them (``SO_REUSEPORT``). The parent only supervises: it
forwards SIGINT/SIGTERM to every worker and waits for them, restarts a worker that dies after
it had been serving (a crash), and stops everything if a worker cannot start at all (a
configuration error would otherwise restart forever).

The embedded defaults cannot be shared between processes (an SQLite file written by several
servers, an in-process broker that only reaches its own process): ``--workers`` refuses them.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from dataclasses import replace
from multiprocessing.context import SpawnProcess
from typing import Any

from hubbub.config import Settings

log = logging.getLogger("hubbub.workers")

#: A worker that exits sooner than this after its start did not start: give up.
STARTUP_GRACE = 10.0


def check(settings: Settings) -> str | None:
    """Why these settings cannot run several workers, or None."""
    if settings.database_url.startswith("sqlite"):
        return ("--workers needs a shared database: the embedded SQLite file cannot be "
                "served by several processes. Use --database postgresql://...")
    if settings.broker_url in ("", "memory"):
        return ("--workers needs a shared broker: the in-process broker only reaches its own "
                "process. Use --broker redis://...")
    return None


def _worker(settings: Settings) -> None:
    import logging as worker_logging

    from hubbub.node import serve_one

    worker_logging.basicConfig(level=settings.log_level.upper(),
                               format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker_logging.getLogger("alembic").setLevel(worker_logging.WARNING)
    serve_one(settings, reuse_port=True)


def run_workers(settings: Settings) -> int:
    """Run ``settings.workers`` workers until a signal; the exit status. The settings
    must have passed :func:`check`."""
    one = replace(settings, workers=1)
    spawn = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> tuple[SpawnProcess, float]:
        process = spawn.Process(target=_worker, args=(one,), daemon=False)
        process.start()
        return process, time.monotonic()

    workers = [start() for _ in range(settings.workers)]
    log.info("started %d workers on port %d: %s", len(workers), settings.port,
             " ".join(str(p.pid) for p, _ in workers))

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for process, _ in workers:
            if process.is_alive() and process.pid is not None:
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while workers:
        time.sleep(0.2)
        running = []
        for process, started in workers:
            if process.is_alive():
                running.append((process, started))
                continue
            process.join()
            if stopping:
                continue
            if time.monotonic() - started < STARTUP_GRACE:
                log.error("worker %s exited at start (status %s): stopping", process.pid,
                          process.exitcode)
                status = 1
                stop(signal.SIGTERM, None)
            else:
                log.warning("worker %s died (status %s): restarting it", process.pid,
                            process.exitcode)
                running.append(start())
        workers[:] = running
    return status
