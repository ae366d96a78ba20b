"""Smoke test of the benchmark (``bench/run.py``) at tiny sizes against real servers: Hubbub, the
bare aiohttp loop and, where node is available, the Node Socket.IO server, measured alternately;
the JSON, Markdown and chart it writes hold sane values. No figure is judged: the machine is
shared, so only "something was measured, and reported consistently" is asserted."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOCKETIO_DIR = ROOT / "bench" / "socketio"
HAVE_NODE = shutil.which("node") is not None and (
    (SOCKETIO_DIR / "node_modules" / "socket.io").is_dir() or shutil.which("npm") is not None)


def bench(out: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--no-pin",
           "--no-calibrate", "--rounds", "1", "--duration", "1", "--warmup", "0.2",
           "--windows", "1", "--quiet-below", "1000", "--conns-per-user", "2",
           "--out", str(out), "--chart", f"{out}.png", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def figure(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(f for f in report["figures"] if f["key"] == key)


@pytest.mark.timeout(300)
def test_alternating_comparison_writes_json_markdown_and_chart(tmp_path: Path) -> None:
    systems = ["hubbub", "bare"] + (["socketio"] if HAVE_NODE else [])
    # A variant of the bare server whose own environment makes it exit at start (a
    # coalescing delay that is not a number): the variant's environment reaches its server
    # and no other, and its failure is reported without hiding the others.
    done = bench(tmp_path / "cmp", "--systems", ",".join([*systems, "broken=bare"]),
                 "--system-env", "broken:BASELINE_COALESCE=not-a-number",
                 "--phases", "fanout", "--fanout-watchers", "4")
    report = json.loads((tmp_path / "cmp.json").read_text())

    # one progress line per measurement, in the order of the systems
    progress = [line for line in done.stderr.splitlines() if "] == [" in line]
    assert len(progress) == len(systems) + 1
    assert [m["system"] for m in report["measurements"]] == [*systems, "broken"]

    fanout = figure(report, "fanout-4")
    for s in systems:
        assert fanout["systems"][s]["median"] > 0, s
        assert fanout["systems"][s]["errors"] == [], s
    for m in report["measurements"]:
        r = m["result"]
        if m["system"] == "broken":
            assert "server exited" in r["error"]
            continue
        assert r["connected_at_end"] == 4 and r["events_sent_ok"] > 0, m["system"]
        assert r["statuses"] == {"201": r["events_sent_ok"]}, m["system"]
        assert r["delivered_fraction"] == 1.0, m["system"]
        assert r["sampled_latency_ms"]["samples"] > 0, m["system"]

    assert fanout["systems"]["broken"]["values"] == []
    for other in systems[1:]:
        ratio = fanout["ratios"][other]
        expected = fanout["systems"]["hubbub"]["median"] / fanout["systems"][other]["median"]
        assert ratio["ratio_of_medians"] == pytest.approx(expected)
        assert ratio["per_round"] == [pytest.approx(expected)]
    assert "broken" not in fanout["ratios"]
    assert {s["name"]: s["env"] for s in report["systems"]}["broken"] == {
        "BASELINE_COALESCE": "not-a-number"}

    md = (tmp_path / "cmp.md").read_text()
    header = "| figure | " + " | ".join([*systems, "broken"]) + " | hubbub / bare |"
    assert header in md
    assert "| fan-out, 4 watchers" in md
    assert done.stdout.strip().endswith(md.strip().splitlines()[-1])
    png = tmp_path / "cmp.png"
    if importlib.util.find_spec("matplotlib") is not None:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "![fan-out" in md and "cmp.png" in md
    else:
        assert not png.exists() and report["chart"] is None

    # the report written again from the JSON alone (nothing measured) says the same
    again = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--report-from",
                            str(tmp_path / "cmp.json"), "--out", str(tmp_path / "again"),
                            "--chart", str(tmp_path / "again.png")],
                           capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "again.md").read_text() == md.replace("(cmp.png)", "(again.png)")


def test_system_specs_and_variants_parse() -> None:
    from bench.servers import parse_systems

    systems = parse_systems("hubbub,bare,nohistory=hubbub",
                            ["nohistory:HUBBUB_HISTORY_SIZE=0", "nohistory:PYTHONPATH=/a:/b"])
    assert [(s.name, s.kind) for s in systems] == [
        ("hubbub", "hubbub"), ("bare", "bare"), ("nohistory", "hubbub")]
    assert systems[2].env == {"HUBBUB_HISTORY_SIZE": "0", "PYTHONPATH": "/a:/b"}
    assert systems[0].env == {}
    for bad_spec, bad_env in (("hubbub,nodejs", []), ("hubbub,hubbub", []),
                              ("hubbub", ["other:A=1"]), ("hubbub", ["hubbub:novalue"])):
        with pytest.raises(SystemExit):
            parse_systems(bad_spec, bad_env)
