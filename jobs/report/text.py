"""Formatting helpers of the incident report (times, offsets, table cells)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from jobs.core.durations import format_duration
from jobs.records.runs import RunRecord

logger = logging.getLogger(__name__)

ARG_LIMIT = 160


# --- formatting helpers ------------------------------------------------------------------------


def duration_text(seconds: float) -> str:
    """Durations in reports: hundredths under 10 s (`0.03s`, `2.50s`), else as elsewhere (`1m30s`)."""
    return f"{seconds:.2f}s" if seconds < 10 else format_duration(seconds)


def clock_time(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S}" if when is not None else "—"


def offset_text(delta: timedelta) -> str:
    """`+0:03:12` (hours:minutes:seconds; tenths under a minute)."""
    seconds = max(0.0, delta.total_seconds())
    if seconds < 60:
        return f"+{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{hours}:{minutes:02d}:{secs:02d}"


def one_line(value: str) -> str:
    return " ".join(value.split())


def table_cell(value: str) -> str:
    """Text safe inside a Markdown table cell (one line, pipes escaped)."""
    return one_line(value).replace("|", "\\|")


def shortened(value: Any) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    shown = one_line(shown)
    return shown if len(shown) <= ARG_LIMIT else shown[: ARG_LIMIT - 1] + "…"


def who_name(actor: str | None) -> str:
    """Actors as they are recorded: Slack user IDs, `cli:<os user>`, `automation`, `pagerduty:<name>`."""
    return f"`{actor}`" if actor else ""


def relation(run: RunRecord, runs: list[RunRecord]) -> str:
    parent = next((r for r in runs if r.run_id == run.parent_run_id), None)
    if parent is None:
        return ""
    if parent.level == run.level and parent.phase == run.phase:
        return f", retry of `{parent.run_id}`"
    return f", escalation from `{parent.run_id}` ({parent.level} → {run.level})"


def elapsed_of(run: RunRecord) -> float | None:
    if run.elapsed is not None:
        return run.elapsed
    if run.started_at is not None and run.ended_at is not None:
        return (run.ended_at - run.started_at).total_seconds()
    return None
