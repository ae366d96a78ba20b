#!/usr/bin/env python3
"""Hubbub's benchmark: the performance targets of DESIGN.md and issue 12, measured through the
real servers. Run by hand (a smoke test at tiny sizes is in the suite)::

    .venv/bin/python bench/run.py                                # Hubbub alone, full sizes
    .venv/bin/python bench/run.py --quick                        # small sizes, under a minute
    .venv/bin/python bench/run.py --systems hubbub,bare,socketio # alternately, with ratios

Each measurement starts its own server (``hubbub serve`` with a temp SQLite database and rate
limits off, the bare aiohttp loop, or the Node Socket.IO server) pinned with ``taskset -c 0``;
this script re-executes itself under ``taskset -c 1`` and is the load generator: thin WebSocket
and HTTP/1.1 clients on asyncio protocols (uvloop) that count frames and parse only what a
figure needs. Everything measured goes over the wire on 127.0.0.1. Every loop is bounded in
count and in time, and the script stops by itself.

Phases (``--phases``): ``fanout`` (deliveries/s at each ``--fanout-watchers``), ``latency``
(send -> last recipient), ``memory`` (RSS per idle connection, connects/s), ``rest``
(client-side sendEvent requests/s), ``connections`` (many idle connections, health checks on
time). The package's modules: ``machine`` (CPU accounting, calibration), ``servers``,
``wsclient``/``httpclient``/``population`` (the generator), ``phases/``, ``rounds`` (running
them), ``report`` (one system's table), ``compare``/``compare_report`` (ratios, Markdown, chart).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the ``bench`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import compare_report
from bench.machine import log, raise_nofile
from bench.options import comparing, parse_args
from bench.report import TARGETS, environment, table
from bench.rounds import run_rounds, run_single
from bench.servers import PINNED_ENV, ensure_socketio


def pin_generator(generator_cpu: int, no_pin: bool) -> None:
    """Re-execute under ``taskset -c GENERATOR_CPU`` (once)."""
    if no_pin or os.environ.get(PINNED_ENV) == "1":
        return
    if os.sched_getaffinity(0) == {generator_cpu}:
        return
    os.environ[PINNED_ENV] = "1"
    os.execvp("taskset", ["taskset", "-c", str(generator_cpu), sys.executable,
                          str(Path(__file__).resolve()), *sys.argv[1:]])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__ or "")
    if args.report_from:
        compare_report.rewrite(Path(args.report_from), args.out, args.chart)
        return 0
    pin_generator(args.generator_cpu, args.no_pin)
    nofile = raise_nofile()
    need = max([args.memory_conns + args.memory_warmup, *args.fanout_watchers]) + 100
    if nofile < need:
        log(f"warning: open-file limit {nofile} < {need} needed")
    if any(s.kind == "socketio" for s in args.systems):
        ensure_socketio()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    workdir = Path(tempfile.mkdtemp(prefix="hubbub-bench-"))
    # Hard stop: whatever happens, the script ends (the servers are stopped in finally blocks).
    measurements = (len(args.phases) + len(args.fanout_watchers)) * args.rounds * len(
        args.systems)
    budget = (args.phase_timeout + args.quiet_wait + 10) * measurements + 120
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("budget")))
    signal.alarm(int(budget))
    env = environment(args)
    log(f"generator on CPU {sorted(os.sched_getaffinity(0))}, work dir {workdir}")
    try:
        if comparing(args):
            compared = asyncio.run(run_rounds(args, workdir))
        else:
            results = asyncio.run(run_single(args, workdir))
    finally:
        signal.alarm(0)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if comparing(args):
        compare_report.write(args, env, compared)
        return 0
    options = {k: v for k, v in vars(args).items() if k not in ("json", "systems")}
    options["systems"] = [s.name for s in args.systems]
    report = {"environment": env, "targets": TARGETS, "results": results, "options": options}
    print()
    system = args.systems[0]
    what = {"bare": "Bare aiohttp baseline (bench/baseline_server.py)", "hubbub": "Hubbub",
            "socketio": "Socket.IO 4 (bench/socketio/server.mjs)"}[system.kind]
    if system.name != system.kind:
        what += f" ({system.name})"
    print(f"{what} benchmark - {env['date']} - {env['nproc']} CPU {env['cpu']} - Python "
          f"{env['python']}, aiohttp {env['aiohttp']}, uvloop {env['uvloop']} - "
          f"commit {env['commit']}")
    print(table(results))
    print()
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
