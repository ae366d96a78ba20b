"""The report of a comparison: JSON (everything measured), a Markdown table (medians, ranges,
ratios, verdicts) and a PNG chart of fan-out (deliveries/s against watchers, per system)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from bench.compare import summarize
from bench.machine import log
from bench.servers import ROOT, System


def _num(x: float | None, unit: str) -> str:
    if x is None:
        return "–"
    if unit in ("ms", "KiB"):
        return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"
    return f"{x:,.0f}"


def _cell(s: dict[str, Any] | None, unit: str) -> str:
    if s is None:
        return "n/a"
    if not s["values"]:
        return "error" if s["errors"] else "–"
    text = _num(s["median"], unit)
    if len(s["values"]) > 1:
        text += f" ({_num(s['min'], unit)}–{_num(s['max'], unit)})"
    if s["errors"]:
        text += f", {len(s['errors'])} failed"
    return text


def _ratio(r: dict[str, Any] | None) -> str:
    if r is None or r["ratio_of_medians"] is None:
        return "–"
    text = f"{r['ratio_of_medians']:.2f}×"
    rounds = r["per_round"]
    if len(rounds) > 1:
        text += f" ({min(rounds):.2f}–{max(rounds):.2f})"
    return text


def markdown(args: argparse.Namespace, env: dict[str, Any], summary: list[dict[str, Any]],
             measurements: list[dict[str, Any]], chart: str | None) -> str:
    systems: list[System] = args.systems
    primary, others = systems[0], systems[1:]
    head = ["figure", *(s.name for s in systems),
            *(f"{primary.name} / {s.name}" for s in others), "target", "verdict"]
    rows = []
    for f in summary:
        better = "higher is better" if f["higher_is_better"] else "lower is better"
        verdict = {None: "n/a", True: "PASS", False: "MISS"}[f["verdict"]]
        if f["verdict"] is not None and not f["verdict_complete"]:
            verdict += " (partial)"
        rows.append([f"{f['label']} ({f['unit']}, {better})",
                     *(_cell(f["systems"].get(s.name), f["unit"]) for s in systems),
                     *(_ratio(f["ratios"].get(s.name)) for s in others),
                     f["target"], verdict])
    noisy = [m for m in measurements if m["result"].get("noisy")]
    busy = [m["result"].get("machine_busy_before_pct", 0) for m in measurements]
    others = [m["result"]["median_window"]["other_processes_cpu_pct"] for m in measurements
              if "median_window" in m["result"]]
    described = "; ".join(f"`{s.name}` ({s.kind}" + "".join(
        f", {k}={v}" for k, v in s.env.items()) + ")" for s in systems)
    lines = [
        (f"Run of {env['date']} on commit {env['commit']}: {env['nproc']} CPU {env['cpu']}, "
         f"Python {env['python']}, aiohttp {env['aiohttp']}, uvloop {env['uvloop']}; "
         + ("not pinned to cores." if env["server_cpu"] is None else
            f"server on CPU {env['server_cpu']}, generator on CPU {env['generator_cpu']}.")),
        "",
        f"Command: `{env['command']}`",
        "",
        (f"Systems, measured alternately in each of {args.rounds} round(s) (A B A B ...): "
         f"{described}. Each cell is the median over the rounds (range in brackets); a ratio "
         f"is {primary.name}'s median over the other's (range of the per-round ratios)."),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        (f"Machine busy before a measurement: max {max(busy, default=0)}% (other processes "
         f"beside the benchmark); measurements flagged noisy: {len(noisy)} of "
         f"{len(measurements)}."),
    ]
    if others:
        lines.append("")
        lines.append(
            f"Other processes during the fan-out and REST windows: median "
            f"{sorted(others)[len(others) // 2]}%, max {max(others)}% of a core"
            + (" (a figure taken while other processes shared the cores measures the machine "
               "as much as the server)." if max(others) >= args.quiet_below else "."))
    if chart:
        lines += ["", f"![fan-out, deliveries/s against watchers]({chart})"]
    return "\n".join(lines) + "\n"


def chart(args: argparse.Namespace, env: dict[str, Any], summary: list[dict[str, Any]],
          path: Path) -> bool:
    """Deliveries/s against watchers, one line per system (median, with the range over the
    rounds as error bars), and beside it the same per second of server CPU. False (and a
    warning) without matplotlib or fan-out figures."""
    panels = [("deliveries/s (median over rounds)",
               [f for f in summary if f["phase"] == "fanout" and f["unit"] == "deliveries/s"]),
              ("deliveries per second of server CPU",
               [f for f in summary if f["phase"] == "fanout" and f["unit"] != "deliveries/s"])]
    if not panels[0][1]:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("warning: no chart (matplotlib is missing: pip install -e '.[bench]')")
        return False
    panels = [(label, figs) for label, figs in panels if figs]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), dpi=120,
                             squeeze=False)
    for ax, (label, figs) in zip(axes[0], panels, strict=True):
        for s in args.systems:
            xs, ys, lo, hi = [], [], [], []
            for f in figs:
                st = f["systems"].get(s.name)
                if st and st["median"] is not None:
                    xs.append(f["size"])
                    ys.append(st["median"])
                    lo.append(st["median"] - st["min"])
                    hi.append(st["max"] - st["median"])
            if xs:
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=4, label=s.name)
        ax.set_xlabel("watchers of one channel")
        ax.set_ylabel(label)
        ax.set_xticks(sorted({f["size"] for f in figs}))
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"Fan-out, {args.fanout_senders} senders in flight, {args.rounds} round(s) - "
                 f"{env['date']}, commit {env['commit']}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def _relative(path: Path, start: Path) -> str:
    """``path`` as a link from a file in ``start`` (the Markdown beside its JSON)."""
    return os.path.relpath(path.resolve(), start.resolve())


def write(args: argparse.Namespace, env: dict[str, Any],
          measurements: list[dict[str, Any]]) -> dict[str, Any]:
    """Write PREFIX.json, PREFIX.md and the chart; print the Markdown. Returns the report."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d-%H%M")
    prefix = Path(args.out or ROOT / "docs" / "benchmarks" / f"compare-{stamp}")
    png = Path(args.chart or ROOT / "docs" / "img" / f"compare-{stamp}.png")
    summary = summarize(args, measurements)
    drew = chart(args, env, summary, png)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    md = markdown(args, env, summary, measurements,
                  _relative(png, prefix.parent) if drew else None)
    options = {k: v for k, v in vars(args).items() if k not in ("systems",)}
    report = {"environment": env, "options": options,
              "systems": [{"name": s.name, "kind": s.kind, "env": s.env}
                          for s in args.systems],
              "figures": summary, "measurements": measurements,
              "chart": str(png) if drew else None}
    Path(f"{prefix}.json").write_text(json.dumps(report, indent=2) + "\n")
    Path(f"{prefix}.md").write_text(md)
    print(md)
    log(f"wrote {prefix}.json, {prefix}.md" + (f" and {png}" if drew else ""))
    return report


def rewrite(source: Path, out: str | None, chart_path: str | None) -> dict[str, Any]:
    """The comparison of an earlier run written again from its JSON (its options, systems and
    measurements) with this code's figures: nothing is measured."""
    earlier = json.loads(source.read_text())
    args = argparse.Namespace(**earlier["options"])
    args.systems = [System(s["name"], s["kind"], s["env"]) for s in earlier["systems"]]
    base = str(source).removesuffix(".json")
    args.out = out or base
    args.chart = chart_path or earlier.get("chart") or f"{base}.png"
    return write(args, earlier["environment"], earlier["measurements"])
