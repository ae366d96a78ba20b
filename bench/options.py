"""The command line of ``bench/run.py``: every size, duration, bound and system."""

from __future__ import annotations

import argparse

from bench.servers import System, parse_systems


def parse_args(argv: list[str] | None = None, description: str = "") -> argparse.Namespace:
    """The options, with the defaults of a full run (or of ``--quick``) filled in, and
    ``args.systems`` the parsed systems."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="small sizes and short windows: the whole run in under a minute")
    p.add_argument("--phases", default="fanout,latency,memory,rest,connections",
                   help="comma-separated subset of fanout,latency,memory,rest,connections")
    p.add_argument("--fanout-watchers", default=None,
                   help="comma-separated watcher counts (default 1000,5000; quick 200,500)")
    p.add_argument("--fanout-senders", type=int, default=16,
                   help="concurrent sendEvent connections in the fan-out phase")
    p.add_argument("--fanout-rate", type=float, default=0,
                   help="cap on events/s in the fan-out phase (0: as fast as answered)")
    p.add_argument("--duration", type=float, default=None,
                   help="measured window of the fan-out and REST phases, s (default 10; quick 3)")
    p.add_argument("--warmup", type=float, default=None,
                   help="load before the window opens, s (default 2; quick 0.5)")
    p.add_argument("--windows", type=int, default=None,
                   help="measured windows per fan-out/REST run, the median is reported "
                        "(default 3; quick 1)")
    p.add_argument("--quiet-below", type=float, default=10.0,
                   help="before each phase, wait (up to --quiet-wait s) until the machine is "
                        "less busy than this percent: other processes skew every figure")
    p.add_argument("--quiet-wait", type=float, default=None, help="default 120; quick 0")
    p.add_argument("--max-events", type=int, default=1_000_000,
                   help="hard cap on events per sender loop")
    p.add_argument("--event-pad", type=int, default=0,
                   help="extra characters of custom text in each event")
    p.add_argument("--sample-conns", type=int, default=10,
                   help="connections whose events are fully parsed for latency in fan-out")
    p.add_argument("--latency-watchers", type=int, default=None)
    p.add_argument("--latency-rate", type=float, default=50.0, help="events/s")
    p.add_argument("--latency-duration", type=float, default=None, help="s (default 20)")
    p.add_argument("--memory-conns", type=int, default=None, help="default 5000; quick 1000")
    p.add_argument("--memory-warmup", type=int, default=None, help="default 100; quick 20")
    p.add_argument("--rest-senders", type=int, default=16)
    p.add_argument("--rest-watchers", type=int, default=10)
    p.add_argument("--connections", type=int, default=None, help="default 20000; quick 2000")
    p.add_argument("--health-interval", type=float, default=None,
                   help="HUBBUB_HEALTH_CHECK_INTERVAL for the connections phase (default 5)")
    p.add_argument("--health-rounds", type=int, default=None, help="default 3; quick 2")
    p.add_argument("--health-slack", type=float, default=1.0,
                   help="s a health check may be late (and the bound on ping p99)")
    p.add_argument("--pings-per-tick", type=int, default=20,
                   help="client pings sent every 0.25 s in the connections phase")
    p.add_argument("--conns-per-process", type=int, default=0,
                   help="connections per generator process in the connections phase "
                        "(default: as many as RLIMIT_NOFILE allows)")
    p.add_argument("--conns-per-user", type=int, default=50,
                   help="connections per user (HUBBUB_WS_MAX_CONNECTIONS_PER_USER)")
    p.add_argument("--connect-concurrency", type=int, default=64)
    p.add_argument("--setup-timeout", type=float, default=600.0,
                   help="bound on each phase's setup (users, connections, watches), s")
    p.add_argument("--phase-timeout", type=float, default=900.0, help="bound on each phase, s")
    p.add_argument("--reader", choices=("spin", "asyncio"), default="spin",
                   help="how the generator reads the watchers during measured windows: a "
                        "busy-polling epoll loop (default) or asyncio protocols")
    p.add_argument("--rest-reader", choices=("spin", "asyncio"), default="asyncio",
                   help="reader for the REST phase's watchers (few frames: asyncio suffices "
                        "and leaves the generator's core to the senders)")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--generator-cpu", type=int, default=1)
    p.add_argument("--no-pin", action="store_true", help="do not pin (not comparable)")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the server (e.g. HUBBUB_LOG_LEVEL=WARNING)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON here too")
    p.add_argument("--profile", metavar="DIR",
                   help="py-spy the server during each measured window (raw stacks in DIR; "
                        "summarise with bench/hotspots.py). Figures of a profiled run are "
                        "not the ones to record")
    p.add_argument("--profile-rate", type=int, default=100, help="samples/s")
    p.add_argument("--profile-native", action="store_true",
                   help="include native (C) frames in the profile")
    p.add_argument("--report-from", metavar="JSON",
                   help="measure nothing: write the comparison again (Markdown, chart) from "
                        "the measurements in this JSON of an earlier run, with this code's "
                        "figures; --out and --chart as usual (default: beside the JSON)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="skip the probe of the server core's speed before each measurement "
                        "(a second saved per measurement: for smoke runs)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (databases, logs)")
    p.add_argument("--baseline", action="store_true",
                   help="measure bench/baseline_server.py (bare aiohttp + uvloop fan-out, no "
                        "auth, storage or permissions) instead of hubbub: this machine's "
                        "ceiling (the same as --systems bare)")
    p.add_argument("--systems", default=None, metavar="NAME[=KIND],...",
                   help="systems to measure alternately, the first one compared with each "
                        "other: kinds hubbub, bare (bench/baseline_server.py), socketio "
                        "(bench/socketio/server.mjs); NAME=KIND names a variant (default: "
                        "hubbub alone, the table against DESIGN.md's targets)")
    p.add_argument("--system-env", action="append", default=[], metavar="NAME:KEY=VALUE",
                   help="extra environment for one system's server, e.g. "
                        "hubbub-nohistory:HUBBUB_HISTORY_SIZE=0")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds of a comparison: each figure is measured for every system in "
                        "turn (A B A B ...), medians and ratios over the rounds (default 3 "
                        "with several systems, else 1)")
    p.add_argument("--out", metavar="PREFIX",
                   help="write the comparison as PREFIX.json and PREFIX.md (default with "
                        "several systems: docs/benchmarks/compare-<date>)")
    p.add_argument("--chart", metavar="PATH",
                   help="the PNG chart of fan-out (deliveries/s against watchers, per system; "
                        "needs matplotlib, pip install -e '.[bench]'; default with several "
                        "systems: docs/img/compare-<date>.png)")
    args = p.parse_args(argv)
    quick = args.quick
    args.fanout_watchers = [int(x) for x in (
        args.fanout_watchers or ("200" if quick else "1000,5000")).split(",")]
    args.duration = args.duration or (2.0 if quick else 10.0)
    args.windows = args.windows or (1 if quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if quick else 2.0)
    args.latency_watchers = args.latency_watchers or (100 if quick else 1000)
    args.latency_duration = args.latency_duration or (3.0 if quick else 20.0)
    args.memory_conns = args.memory_conns or (300 if quick else 5000)
    args.connections = args.connections or (500 if quick else 20000)
    args.health_interval = args.health_interval or (1.0 if quick else 5.0)
    if args.health_rounds is None:
        args.health_rounds = 2 if quick else 3
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if quick else 120.0
    if args.memory_warmup is None:
        args.memory_warmup = 20 if quick else 100
    if quick and args.rest_senders == 16:
        args.rest_senders = 4
    args.phases = [x.strip() for x in args.phases.split(",") if x.strip()]
    unknown = set(args.phases) - {"fanout", "latency", "memory", "rest", "connections"}
    if unknown:
        p.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    spec = args.systems or ("bare" if args.baseline else "hubbub")
    args.systems = parse_systems(spec, args.system_env)
    if args.baseline and [s.kind for s in args.systems] != ["bare"]:
        p.error("--baseline is --systems bare; give one or the other")
    if args.rounds is None:
        args.rounds = 3 if len(args.systems) > 1 else 1
    args.rounds = max(1, args.rounds)
    return args


def comparing(args: argparse.Namespace) -> bool:
    """A comparison report (several systems, several rounds, or an output asked for), rather
    than the single run's table against DESIGN.md's targets."""
    return len(args.systems) > 1 or args.rounds > 1 or bool(args.out or args.chart)


def first_system(args: argparse.Namespace) -> System:
    systems: list[System] = args.systems
    return systems[0]
