"""Periodic work on RQ's scheduler: a *chain* of jobs, each queuing the next one `interval` later.

Every worker that does periodic work calls `ensure`: a chain that is missing, or whose next job is
long overdue (its worker died), is started afresh under a new generation; a job of an older
generation finds it is not current and stops. Two workers never run two chains of one name.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from jobs.context import Context
from jobs.core.redis_values import optional_text

STALE_CHAIN_INTERVALS = 3  # a chain whose next job is this many intervals late is restarted
STALE_CHAIN_MIN_SECONDS = 30.0


@dataclass(frozen=True)
class Chain:
    """A named chain calling `function(name, generation)` on the `monitor` queue."""

    name: str
    function: str
    description: str


def schedule(ctx: Context, chain: Chain, generation: str, delay: float, interval: float, job_timeout: int) -> None:
    """Queue the chain's next job `delay` seconds from now (RQ's scheduler moves it to the queue)."""
    key = ctx.keys.monitor_chain(chain.name)
    due = time.time() + delay
    ctx.redis.hset(key, mapping={"generation": generation, "due": f"{due:.3f}", "interval": f"{interval:g}"})
    options: dict[str, Any] = {
        "job_id": ctx.keys.job("chain", f"{chain.name}-{generation}-{time.time_ns()}"), "result_ttl": 0,
        "failure_ttl": 3600, "job_timeout": job_timeout, "description": chain.description,
    }  # fmt: skip
    queue = ctx.queue("monitor")
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), chain.function, chain.name, generation, **options)
    else:
        queue.enqueue(chain.function, chain.name, generation, **options)


def is_current(ctx: Context, name: str, generation: str) -> bool:
    """Whether `generation` is the chain's current one (a restarted chain stops the old one)."""
    return optional_text(ctx.redis.hget(ctx.keys.monitor_chain(name), "generation")) == generation


def last_interval(ctx: Context, name: str, default: float = 30.0) -> float:
    """The interval the chain last ran at (to keep it going when its configuration cannot be read)."""
    return float(optional_text(ctx.redis.hget(ctx.keys.monitor_chain(name), "interval")) or default)


def ensure(ctx: Context, chain: Chain, interval: float, job_timeout: int) -> bool:
    """Start the chain unless it is running (its next job not long overdue); True if started."""
    key = ctx.keys.monitor_chain(chain.name)
    due = optional_text(ctx.redis.hget(key, "due"))
    late = max(STALE_CHAIN_INTERVALS * interval, STALE_CHAIN_MIN_SECONDS)
    if due is not None and time.time() < float(due) + late:
        return False
    if not ctx.redis.set(f"{key}:starting", "1", nx=True, ex=10):
        return False
    schedule(ctx, chain, secrets.token_hex(4), 0, interval, job_timeout)
    return True
