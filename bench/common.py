"""What every benchmark reports: a row comparing rollbot with a baseline measured in the same run."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One line of docs/benchmarks.md."""

    benchmark: str
    compared: str
    ratio: float
    target: str
    met: bool
    details: str


def print_rows(rows: list[Row]) -> None:
    """A benchmark module run on its own (`python -m bench.x`) prints its rows."""
    for row in rows:
        print(f"{row.benchmark}: {row.ratio:.2f}× ({row.details}) target {row.target}")


def machine() -> str:
    """The machine the numbers were measured on."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    system = f"{platform.system()} {platform.machine()}"
    return f"{system}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` calls of `action`."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
