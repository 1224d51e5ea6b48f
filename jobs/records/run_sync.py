"""One round trip per change of a running run: its new log lines, audit entries and record, the
lease renewed, how far its journal reached Redis, and what the fence needs to know (whether the
run was ended from outside, who holds its lock), all in one Lua script run atomically by Redis.

When Redis has lost the run's record (a restart without persistence, a failover to an empty
replica) the script changes nothing and says so: the caller writes the whole journal back
(`jobs.records.journal.write_back`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis import Redis

from jobs.core.keys import Keys
from jobs.core.redis_values import optional_text
from jobs.records.journal import APPLIED_TTL_SECONDS, RUN_LOG_MAX_LINES, Entry, merged_record
from jobs.records.runs import RunRecord, parse_record

_SYNC = """
local p = cjson.decode(ARGV[1])
local stored = redis.call('HGET', KEYS[1], 'record')
if not stored then return {0, '', ''} end
local status = cjson.decode(stored)['status']
local outside = p['active'] and status ~= 'queued' and status ~= 'running'
for _, chunk in ipairs(p['logs']) do
  redis.call('RPUSH', KEYS[5], unpack(chunk))
  redis.call('LTRIM', KEYS[5], -p['log_max'], -1)
end
for _, fields in ipairs(p['audits']) do
  redis.call('XADD', KEYS[6], 'MINID', '~', p['audit_minid'], '*', unpack(fields))
end
if p['fields'] ~= cjson.null and not outside then
  redis.call('HSET', KEYS[1], unpack(p['fields']))
  if p['active'] then redis.call('SADD', KEYS[3], p['run_id']) else redis.call('SREM', KEYS[3], p['run_id']) end
  redis.call('ZADD', KEYS[4], p['created'], p['run_id'])
end
redis.call('SET', KEYS[2], p['last'], 'EX', p['applied_ttl'])
if p['lease_ms'] > 0 and p['active'] and not outside then
  redis.call('SET', KEYS[7], '1', 'PX', p['lease_ms'])
end
local holder = redis.call('GET', KEYS[8]) or ''
if outside then return {1, holder, stored} end
return {1, holder, ''}
"""
_CHUNK = 500  # log lines per RPUSH (Lua's unpack has a limit)


@dataclass(frozen=True)
class SyncResult:
    """What Redis said: whether it had the run at all, the lock's holder, a verdict from outside."""

    found: bool
    holder: str | None
    ended_outside: RunRecord | None


def sync_run(
    redis: Redis,
    keys: Keys,
    run_id: str,
    lock_key: str,
    pending: list[Entry],
    last: int,
    lease_seconds: float | None,
    audit_retention: float,
    now: float,
) -> SyncResult:
    """Write the `pending` journal entries of a run Redis already has (one round trip)."""
    record = merged_record(pending)
    lines = [line for e in pending if e.op == "log" for line in e.data.get("lines", [])][-RUN_LOG_MAX_LINES:]
    payload: dict[str, Any] = {
        "logs": [lines[i : i + _CHUNK] for i in range(0, len(lines), _CHUNK)],
        "audits": [[part for pair in e.data["fields"].items() for part in pair] for e in pending if e.op == "audit"],
        "fields": [part for pair in record["fields"].items() for part in pair] if record else None,
        "active": bool(record["active"]) if record else True,
        "created": record["created"] if record else 0,
        "run_id": run_id,
        "last": last,
        "applied_ttl": APPLIED_TTL_SECONDS,
        "lease_ms": int(lease_seconds * 1000) if lease_seconds else 0,
        "log_max": RUN_LOG_MAX_LINES,
        "audit_minid": int((now - audit_retention) * 1000),
    }
    run_keys = [keys.run(run_id), keys.journal_applied(run_id), keys.active_runs, keys.runs, keys.run_log(run_id),
                keys.audit, keys.run_lease(run_id), lock_key]  # fmt: skip
    script = redis.register_script(_SYNC)  # EVALSHA, loading the script once per Redis
    found, holder, stored = script(keys=run_keys, args=[json.dumps(payload)])
    outside = parse_record({"record": stored}) if optional_text(stored) else None
    return SyncResult(bool(found), optional_text(holder) or None, outside)
