#!/usr/bin/env python3
"""Summarise a py-spy ``--format raw`` profile (collapsed stacks): where the server's time goes.

    .venv/bin/python bench/hotspots.py /tmp/prof/fanout-1000.txt [--top 30] [--under NAME]

Prints, per thread group (the event loop's thread vs the others, e.g. aiosqlite's worker), the
functions with the most samples *inclusive* (the function and everything it calls) and *self*
(the frame on top of the stack). ``--under NAME`` keeps only the stacks that pass through a
frame whose text contains NAME (e.g. ``send_channel_event``) and reports shares of those.
Percentages are of all samples of the group (or of the filtered stacks).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

THREAD = re.compile(r"^thread \(\w+\): (.*)$")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)`` (lines vary; functions do not)."""
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    parts = path.split("/")
    where = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{m.group('func')} ({where})"


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        line = line.rstrip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        try:
            n = int(count)
        except ValueError:
            continue
        stacks.append(([short(f) for f in stack.split(";")], n))
    return stacks


def group_of(frames: list[str]) -> tuple[str, list[str]]:
    """The thread group of a stack (py-spy ``--threads`` puts ``thread (TID): NAME`` first),
    and the stack without that frame. Worker threads of one kind are merged."""
    root = frames[0] if frames else ""
    m = THREAD.match(root)
    if not m:
        return "all threads", frames
    name = re.sub(r"^Thread-\d+", "Thread-*", m.group(1))
    return name, frames[1:]


def report(stacks: list[tuple[list[str], int]], top: int, under: str | None) -> str:
    out = []
    groups: dict[str, list[tuple[list[str], int]]] = {}
    grand = sum(n for _, n in stacks) or 1
    for frames, n in stacks:
        name, rest = group_of(frames)
        if not rest:
            rest = ["(no Python frame)"]
        groups.setdefault(name, []).append((rest, n))
    for name, items in sorted(groups.items(), key=lambda kv: -sum(n for _, n in kv[1])):
        if under:
            items = [(f, n) for f, n in items if any(under in x for x in f)]
        total = sum(n for _, n in items)
        if not total:
            continue
        inclusive: Counter[str] = Counter()
        self_: Counter[str] = Counter()
        for frames, n in items:
            for f in set(frames):
                inclusive[f] += n
            self_[frames[-1]] += n
        out.append(f"== {name}: {total} samples" + (f" through {under!r}" if under else "")
                   + (f" ({100 * total / grand:.1f}% of all)" if not under else ""))
        out.append("-- inclusive")
        for f, n in inclusive.most_common(top):
            out.append(f"{100 * n / total:6.1f}%  {f}")
        out.append("-- self")
        for f, n in self_.most_common(top):
            out.append(f"{100 * n / total:6.1f}%  {f}")
        out.append("")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--under", help="only stacks through a frame containing this text")
    args = p.parse_args()
    print(report(load(args.profile), args.top, args.under))


if __name__ == "__main__":
    main()
