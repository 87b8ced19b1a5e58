"""Small helpers shared by the benchmarks: timing, environment capture, table and JSON output."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def time_call(fn: Callable[[], object], repeat: int, warmup: int) -> dict[str, float]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeat`` times; median/min/max in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo where available, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def env_info(threads: int) -> dict[str, Any]:
    """Versions, thread count and CPU, for the JSON record."""
    import numpy
    import torch

    return {"torch": torch.__version__, "numpy": numpy.__version__, "threads": threads,
            "cpu": cpu_name()}


def _cells(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> list[list[str]]:
    return [[format(r[k], f) if r.get(k) is not None else "-" for k, _, f in columns] for r in rows]


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """The rows of ``print_table`` as a Markdown table (for READMEs and docs)."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "|".join("---" if not f else "--:" for _, _, f in columns) + "|"]  # text left, numbers right
    return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in _cells(rows, columns)]) + "\n"


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> None:
    """Fixed-width table; ``columns`` are (key, header, format spec), missing values print -."""
    cells = _cells(rows, columns)
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h, _) in enumerate(columns)]

    def line(values: Sequence[str]) -> str:  # first column left-aligned, the rest right
        return "  ".join(v.rjust(w) if i else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths)))

    print(line([h for _, h, _ in columns]))
    print(line(["-" * w for w in widths]))
    for c in cells:
        print(line(c))


def write_json(path: str | Path, name: str, description: str, env: dict[str, Any],
               results: list[dict[str, Any]]) -> Path:
    """Write ``{name, description, env, results}`` (creating folders); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"name": name, "description": description, "env": env, "results": results}
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
