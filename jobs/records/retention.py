"""Retention: runs, their logs and audit entries older than `ROLLBOT_RETENTION` leave Redis by age.

Every key rollbot keeps per run is either deleted here with its run or expires on its own, the
run index (`runs`) loses the ids trimmed, and the audit stream is trimmed by age (`XTRIM MINID`):
no key grows without bound however long rollbot runs. Runs still queued or running are never
trimmed. A worker trims after every run it executes, a batch at a time (`TRIM_BATCH` runs), so the
cost is one `ZRANGEBYSCORE` when there is nothing to trim and never a long pause when there is.
"""

from __future__ import annotations

import logging
import time

from redis import Redis

from jobs.core.keys import Keys
from jobs.core.redis_values import text

logger = logging.getLogger(__name__)

TRIM_BATCH = 500  # runs deleted per call at most (the next call continues)


def run_keys(keys: Keys, run_id: str) -> list[str]:
    """Every key rollbot keeps for one run (the record, its log, its Slack message, its marks)."""
    return [
        keys.run(run_id),
        keys.run_log(run_id),
        keys.run_lease(run_id),
        keys.run_slack(run_id),
        keys.run_verified(run_id),
        keys.journal_applied(run_id),
        keys.run_cancel(run_id),
        keys.run_escalated(run_id),
    ]


def trim(redis: Redis, keys: Keys, retention_seconds: float, now: float | None = None, batch: int = TRIM_BATCH) -> int:
    """Delete up to `batch` ended runs created more than `retention_seconds` ago (their record, log
    and marks) and audit entries older than that; returns how many runs were deleted.
    """
    cutoff = (time.time() if now is None else now) - retention_seconds
    ids = [text(i) for i in redis.zrangebyscore(keys.runs, "-inf", f"({cutoff}", start=0, num=batch)]
    trimmed: list[str] = []
    if ids:
        active = redis.smismember(keys.active_runs, ids)
        trimmed = [run_id for run_id, is_active in zip(ids, active, strict=True) if not is_active]
    with redis.pipeline(transaction=False) as pipe:
        for run_id in trimmed:
            pipe.delete(*run_keys(keys, run_id))
        if trimmed:
            pipe.zrem(keys.runs, *trimmed)
        pipe.xtrim(keys.audit, minid=int(cutoff * 1000), approximate=False)
        pipe.execute()
    if trimmed:
        logger.info("retention: %s runs older than %.0f days deleted", len(trimmed), retention_seconds / 86400)
    return len(trimmed)
