"""Audit stream entries written as if at an earlier time."""

from __future__ import annotations

from datetime import datetime

from jobs.context import Context
from jobs.core.redis_values import text


def add_at(ctx: Context, when: datetime, action: str, run_id: str = "") -> str:
    """An entry with a stream id (and time) in the past, as `record` would have written it then."""
    ms = int(when.timestamp() * 1000)
    fields = {"actor": "U0ONCALL", "action": action, "result": "ok", "run_id": run_id, "args": "{}",
              "time": f"{ms / 1000:.3f}"}  # fmt: skip
    return text(ctx.redis.xadd(ctx.keys.audit, fields, id=f"{ms}-0"))  # type: ignore[arg-type]
