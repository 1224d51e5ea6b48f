"""The audit trail: every command, run state change and refusal, appended to a Redis stream.

Entries are read back in pages (XRANGE from a stream id, never the whole stream at once) and
exported as JSON lines, one object per entry, that `parse_lines` reads back unchanged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from pydantic import BaseModel
from redis import Redis
from redis.typing import EncodableT, FieldT

from jobs.core.keys import Keys
from jobs.core.redaction import Redactor
from jobs.core.redis_values import text

PAGE_SIZE = 500  # entries per XRANGE round trip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECRET_SHAPES = Redactor()  # for callers without the process's redactor: secret-shaped text only


def _redacted(value: Any, redactor: Redactor) -> Any:
    """`value` with every string in it (dict keys and values, list items) redacted."""
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, dict):
        return {redactor(str(k)): _redacted(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v, redactor) for v in value]
    return value


def entry_fields(
    actor: str, action: str, result: str, run_id: str | None, args: dict[str, Any] | None, redactor: Redactor
) -> dict[str, str]:
    """An entry's stream fields, every text masked by `redactor`, stamped with the time now."""
    return {
        "actor": redactor(actor),
        "action": redactor(action),
        "result": redactor(result),
        "run_id": run_id or "",
        "args": json.dumps(_redacted(args or {}, redactor), sort_keys=True, default=lambda o: redactor(str(o))),
        "time": f"{time.time():.3f}",
    }


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
    redactor: Redactor = _SECRET_SHAPES,
) -> str:
    """Append one entry; entries older than the retention are trimmed (by age, never by count).
    Every text in it is masked by `redactor` (the process's: its configured secrets and secret
    shapes) before it is stored, so no export or report can show a token someone typed.
    Given a pipeline as `redis`, the entry is queued with it (its id comes with `execute()`).
    """
    entry = entry_fields(actor, action, result, run_id, args, redactor)
    fields: dict[FieldT, EncodableT] = {name: value for name, value in entry.items()}
    oldest_ms = int((time.time() - retention_seconds) * 1000)
    return text(redis.xadd(keys.audit, fields, minid=oldest_ms, approximate=True))


def entries(redis: Redis, keys: Keys, count: int = 1000) -> list[dict[str, str]]:
    """The oldest `count` entries, each with its stream `id`."""
    rows = redis.xrange(keys.audit, count=count) or []
    return [{"id": text(i), **{text(k): text(v) for k, v in (f or {}).items()}} for i, f in rows]


class AuditEntry(BaseModel):
    """One audit entry as people and programs read it (`args` decoded, `time` in UTC)."""

    id: str
    time: datetime
    actor: str
    action: str
    result: str
    run_id: str | None = None
    args: dict[str, Any] = {}

    def to_json_line(self) -> str:
        """The entry as one line of JSON (time as ISO 8601 UTC with milliseconds), no newline."""
        return json.dumps(
            {
                "id": self.id,
                "time": self.time.astimezone(UTC).isoformat(timespec="milliseconds"),
                "actor": self.actor,
                "action": self.action,
                "result": self.result,
                "run_id": self.run_id,
                "args": self.args,
            },
            ensure_ascii=False,
            sort_keys=False,
        )


def stream_id_ms(entry_id: str) -> int:
    """The milliseconds part of a stream id (`1700000000123-0` → 1700000000123)."""
    return int(entry_id.split("-", 1)[0])


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _to_ms(when: datetime) -> int:
    return (when.astimezone(UTC) - _EPOCH) // timedelta(milliseconds=1)


def _entry_time(value: str | None, entry_id: str) -> datetime:
    """The entry's `time` field (seconds with 3 decimals) exactly to the millisecond, else its id's."""
    try:
        if value:
            return _from_ms(int(Decimal(value) * 1000))
    except InvalidOperation:
        pass
    return _from_ms(stream_id_ms(entry_id))


def _decode(entry_id: Any, raw: Any) -> AuditEntry:
    fields = {text(k): text(v) for k, v in (raw or {}).items()}
    try:
        args = json.loads(fields.get("args") or "{}")
    except json.JSONDecodeError:
        args = {"raw": fields.get("args")}
    ident = text(entry_id)
    return AuditEntry(
        id=ident,
        time=_entry_time(fields.get("time"), ident),
        actor=fields.get("actor", ""),
        action=fields.get("action", ""),
        result=fields.get("result", ""),
        run_id=fields.get("run_id") or None,
        args=args if isinstance(args, dict) else {"value": args},
    )


def read(
    redis: Redis,
    keys: Keys,
    since: datetime | None = None,
    until: datetime | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[AuditEntry]:
    """Entries added from `since` up to and including `until` (by stream id, i.e. Redis's clock),
    oldest first, read in pages of `page_size`.
    """
    low = str(_to_ms(since)) if since is not None else "-"
    high = str(_to_ms(until)) if until is not None else "+"
    while True:
        rows = redis.xrange(keys.audit, min=low, max=high, count=page_size) or []
        for entry_id, fields in rows:
            yield _decode(entry_id, fields)
        if len(rows) < page_size:
            return
        low = f"({text(rows[-1][0])}"  # exclusive: the next page starts after the last id seen


def parse_lines(lines: Iterable[str]) -> list[AuditEntry]:
    """Entries from exported JSON lines (blank lines skipped); `ValueError` naming a bad line."""
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            found.append(AuditEntry.model_validate_json(line))
        except ValueError as error:
            raise ValueError(f"line {number} is not an audit entry: {error}") from error
    return found


def export(redis: Redis, keys: Keys, out: TextIO, since: datetime | None = None, until: datetime | None = None) -> int:
    """Write the entries from `since` to `until` to the text stream `out` as JSON lines; returns how many."""
    count = 0
    for entry in read(redis, keys, since, until):
        out.write(entry.to_json_line() + "\n")
        count += 1
    return count
