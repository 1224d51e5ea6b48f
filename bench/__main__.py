"""`make bench`: run every bench/*.py module's `run()` and write docs/benchmarks.md."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import bench
from bench.common import Row, machine

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SKIP = {"common", "servers", "__main__"}  # helpers, not benchmarks


def main() -> int:
    """Run all benchmarks; exit 1 when a target is missed (the table is written either way)."""
    rows: list[Row] = []
    growth: list[str] = []  # sentences for "How cost grows" (a module's GROWTH_NOTES, filled by its run())
    for module_info in pkgutil.iter_modules(bench.__path__):
        if module_info.name in SKIP:
            continue
        module = importlib.import_module(f"bench.{module_info.name}")
        print(f"running bench/{module_info.name}.py …", file=sys.stderr)
        rows += module.run()
        growth += getattr(module, "GROWTH_NOTES", [])
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on {machine()}.",
        "Each row compares rollbot with a baseline measured side by side in the same run.",
        "",
        "| benchmark | compared | ratio | target | met | details |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = "yes" if r.met else "NO"
        lines.append(f"| {r.benchmark} | {r.compared} | {r.ratio:.2f}× | {r.target} | {met} | {r.details} |")
    if growth:
        lines += ["", "## How cost grows", "", *(f"- {sentence}" for sentence in growth)]
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text("\n".join(lines) + "\n")
    print(DOCS.read_text())
    return 0 if all(r.met for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
