"""The audit trail: every command, run state change and refusal, appended to a Redis stream."""

from __future__ import annotations

import json
import time
from typing import Any

from redis import Redis
from redis.typing import EncodableT, FieldT

from jobs.keys import Keys
from jobs.redis_values import text


def record(
    redis: Redis,
    keys: Keys,
    *,
    actor: str,
    action: str,
    result: str,
    run_id: str | None = None,
    args: dict[str, Any] | None = None,
    retention_seconds: float = 90 * 86400,
) -> str:
    """Append one entry; entries older than the retention are trimmed (by age, never by count)."""
    fields: dict[FieldT, EncodableT] = {
        "actor": actor,
        "action": action,
        "result": result,
        "run_id": run_id or "",
        "args": json.dumps(args or {}, sort_keys=True, default=str),
        "time": f"{time.time():.3f}",
    }
    oldest_ms = int((time.time() - retention_seconds) * 1000)
    return text(redis.xadd(keys.audit, fields, minid=oldest_ms, approximate=True))


def entries(redis: Redis, keys: Keys, count: int = 1000) -> list[dict[str, str]]:
    """The oldest `count` entries, each with its stream `id`."""
    rows = redis.xrange(keys.audit, count=count) or []
    return [{"id": text(i), **{text(k): text(v) for k, v in (f or {}).items()}} for i, f in rows]
