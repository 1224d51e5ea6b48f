"""Durations as people write them in runbooks: `10s`, `15m`, `1h`, `90d` or a number of seconds."""

from __future__ import annotations

import re

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> float:
    """Seconds in `value` (`"30m"`, `"10s"`, `"1h"`, `90`); `ValueError` for anything else."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or like 10s, 15m, 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION_RE.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration: write a number of seconds or like 10s, 15m, 1h")
    if seconds <= 0:
        raise ValueError("a duration must be more than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """`1800` → `30m`, `90` → `1m30s`, `0.4` → `0.4s`: short, for plans and progress lines."""
    if seconds < 10:
        return f"{seconds:.1f}s".replace(".0s", "s")
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"
