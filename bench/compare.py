"""The figures of a comparison (issue 12's table) and their summary over rounds: per system the
median with its range, and the first system's ratio to each other system, as a ratio of
medians and as the range of the per-round ratios (each round's measurements were taken
minutes apart, so a per-round ratio cancels most of the machine's drift)."""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.servers import System

Value = Callable[[dict[str, Any]], float | None]


@dataclass(frozen=True)
class Figure:
    """One row of the comparison: a number taken from one phase's result."""

    key: str
    phase: str
    size: int | None
    label: str
    unit: str
    higher_is_better: bool
    value: Value
    target: str
    #: kind of the reference -> the ratio (first system / reference) to reach: at least this
    #: when higher is better, at most when lower is
    ratio_targets: dict[str, float] = field(default_factory=dict)
    #: the first system's median must reach this (at least / at most, as above)
    absolute_target: float | None = None


def _get(*path: str) -> Value:
    def value(r: dict[str, Any]) -> float | None:
        x: Any = r
        for key in path:
            if not isinstance(x, dict) or key not in x:
                return None
            x = x[key]
        if not isinstance(x, int | float) or math.isnan(x):
            return None
        return float(x)
    return value


def _per_cpu(key: str) -> Value:
    """A rate of the median window divided by the server's CPU share in it: what one core of
    server does per second, which holds better than the rate when others share the cores."""
    def value(r: dict[str, Any]) -> float | None:
        rate, window = r.get(key), r.get("median_window") or {}
        cpu = window.get("server_cpu_pct")
        if not isinstance(rate, int | float) or not cpu:
            return None
        return float(rate) / (cpu / 100)
    return value


def figures(args: argparse.Namespace) -> list[Figure]:
    """The figures the measured phases give, in the order of issue 12's table."""
    out: list[Figure] = []
    if "fanout" in args.phases:
        for n in args.fanout_watchers:
            out.append(Figure(
                f"fanout-{n}", "fanout", n,
                f"fan-out, {n:,} watchers, {args.fanout_senders} senders in flight",
                "deliveries/s", True, _get("deliveries_per_s"),
                "≥ 1.5× bare, ≥ 1.5× Socket.IO", {"bare": 1.5, "socketio": 1.5}))
        for n in args.fanout_watchers:
            out.append(Figure(
                f"fanout-{n}-per-cpu", "fanout", n,
                f"fan-out, {n:,} watchers, per second of server CPU (the whole process)",
                "deliveries/CPU-s", True, _per_cpu("deliveries_per_s"),
                "none (efficiency: holds better than the rate on a shared machine)"))
    if "latency" in args.phases:
        out.append(Figure(
            "latency-p99", "latency", None,
            f"latency p99, {args.latency_rate:g} ev/s into {args.latency_watchers:,} watchers, "
            "send → last watcher", "ms", False, _get("send_to_last_ms", "p99"),
            "≤ 1.0× bare", {"bare": 1.0}))
    if "rest" in args.phases:
        out.append(Figure(
            "rest-rps", "rest", None,
            f"client-side sendEvent REST, {args.rest_senders} senders × {args.rest_watchers} "
            "watchers", "requests/s", True, _get("requests_per_s"),
            "≥ 10× the previous commit (a variant of this run)"))
        out.append(Figure(
            "rest-per-cpu", "rest", None,
            "client-side sendEvent REST, per second of server CPU (the whole process)",
            "requests/CPU-s", True, _per_cpu("requests_per_s"),
            "none (efficiency: holds better than the rate on a shared machine)"))
    if "memory" in args.phases:
        out.append(Figure(
            "memory-kib", "memory", None, "memory per idle connection", "KiB", False,
            _get("kib_per_connection"), "≤ 1.15× bare", {"bare": 1.15}))
        out.append(Figure(
            "storm-connects", "memory", None,
            f"connection storm, {args.memory_conns:,} clients", "connects/s", True,
            _get("connects_per_s"), "≥ 2,000/s, all connected", absolute_target=2000))
    if "connections" in args.phases:
        out.append(Figure(
            "idle-ping-p99", "connections", None,
            f"{args.connections:,} idle connections (as many as fit), ping reply p99",
            "ms", False, _get("ping_rtt_ms", "p99"),
            "≤ 50 ms, health checks on time", absolute_target=50.0))
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _reaches(x: float | None, goal: float, higher: bool) -> bool | None:
    if x is None:
        return None
    return x >= goal if higher else x <= goal


def summarize(args: argparse.Namespace, measurements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per figure: each system's values by round, median, min, max; the first system's ratio
    to each other; and a verdict on the figure's targets (None where it cannot be judged)."""
    systems: list[System] = args.systems
    primary = systems[0]
    out = []
    for fig in figures(args):
        per_system: dict[str, dict[str, Any]] = {}
        by_round: dict[str, dict[int, float]] = {}
        for s in systems:
            rounds: dict[int, float] = {}
            errors = []
            for m in measurements:
                if (m["phase"], m["size"], m["system"]) != (fig.phase, fig.size, s.name):
                    continue
                if "error" in m["result"]:
                    errors.append(m["result"]["error"])
                    continue
                v = fig.value(m["result"])
                if v is not None:
                    rounds[m["round"]] = v
            if not rounds and not errors:
                continue  # this system does not run this phase
            values = [rounds[k] for k in sorted(rounds)]
            by_round[s.name] = rounds
            per_system[s.name] = {"values": values, "median": _median(values),
                                  "min": min(values, default=None),
                                  "max": max(values, default=None), "errors": errors}
        ratios: dict[str, dict[str, Any]] = {}
        mine = by_round.get(primary.name, {})
        for s in systems[1:]:
            theirs = by_round.get(s.name)
            if not theirs or not mine:
                continue
            paired = [mine[k] / theirs[k] for k in sorted(mine) if theirs.get(k)]
            pm, sm = per_system[primary.name]["median"], per_system[s.name]["median"]
            ratios[s.name] = {"kind": s.kind,
                              "ratio_of_medians": pm / sm if pm is not None and sm else None,
                              "per_round": paired}
        checks: list[bool | None] = []
        for s in systems[1:]:
            goal = fig.ratio_targets.get(s.kind)
            if goal is not None and s.name in ratios:
                checks.append(_reaches(ratios[s.name]["ratio_of_medians"], goal,
                                       fig.higher_is_better))
        if fig.absolute_target is not None and primary.name in per_system:
            checks.append(_reaches(per_system[primary.name]["median"], fig.absolute_target,
                                   fig.higher_is_better))
        known = [c for c in checks if c is not None]
        verdict = None if not known else all(known)
        out.append({"key": fig.key, "label": fig.label, "unit": fig.unit,
                    "higher_is_better": fig.higher_is_better, "target": fig.target,
                    "phase": fig.phase, "size": fig.size, "systems": per_system,
                    "ratios": ratios, "verdict": verdict,
                    "verdict_complete": len(known) == len(checks) and bool(checks)})
    return out
