"""The audit trail read back: paged reads, JSON lines that round-trip, filtering by time."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from jobs.context import Context
from jobs.records import audit
from tests.support.audit import add_at


def test_export_round_trips_to_the_streams_entries(ctx: Context) -> None:
    ctx.audit(actor="U0ONCALL", action="rollback.request", result="queued", run_id="rb-1", phase="phase3", level=None)
    ctx.audit(actor="cli:ops", action="run.cancel", result="requested", run_id="rb-1")
    ctx.audit(actor="pagerduty:Jane Doe", action="webhook.incident.acknowledged", result="known", key="rollbot-x-1")
    ctx.audit(actor="U0LEAD", action="approval.approve", result="approved", run_id="rb-2",
              nested={"why": "nuclear | option", "n": [1, 2.5, None]}, note="Ünïcödé ✅\nsecond line")  # fmt: skip

    out = io.StringIO()
    assert audit.export(ctx.redis, ctx.keys, out) == 4
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and all(json.loads(line) for line in lines)
    first = json.loads(lines[0])
    assert list(first) == ["id", "time", "actor", "action", "result", "run_id", "args"]
    assert first["time"].endswith("+00:00") and first["args"] == {"phase": "phase3", "level": None}
    assert json.loads(lines[2])["run_id"] is None

    parsed = audit.parse_lines(out.getvalue().splitlines())
    assert parsed == list(audit.read(ctx.redis, ctx.keys))
    # ...and both are exactly what the stream holds.
    raw = audit.entries(ctx.redis, ctx.keys)
    assert [e.id for e in parsed] == [r["id"] for r in raw]
    for entry, fields in zip(parsed, raw, strict=True):
        assert (entry.actor, entry.action, entry.result) == (fields["actor"], fields["action"], fields["result"])
        assert (entry.run_id or "") == fields["run_id"]
        assert entry.args == json.loads(fields["args"])
        assert Decimal(entry.time.timestamp()).quantize(Decimal("0.001")) == Decimal(fields["time"])
        assert entry.time.tzinfo is not None and entry.time.utcoffset() == timedelta(0)
    assert parsed[3].args["note"] == "Ünïcödé ✅\nsecond line"


def test_reads_in_pages_and_filters_by_time(ctx: Context) -> None:
    now = datetime.now(UTC)
    old = [add_at(ctx, now - timedelta(days=3, seconds=i), f"old.{i}") for i in (3, 2, 1)]
    yesterday = add_at(ctx, now - timedelta(hours=25), "yesterday")
    ctx.audit(actor="U0ONCALL", action="recent.1", result="ok")
    ctx.audit(actor="U0ONCALL", action="recent.2", result="ok")

    everything = list(audit.read(ctx.redis, ctx.keys))
    assert [e.action for e in everything] == ["old.3", "old.2", "old.1", "yesterday", "recent.1", "recent.2"]
    assert list(audit.read(ctx.redis, ctx.keys, page_size=2)) == everything  # three pages, nothing twice
    assert list(audit.read(ctx.redis, ctx.keys, page_size=1)) == everything
    assert [e.id for e in everything[:4]] == [*old, yesterday]

    since_day = list(audit.read(ctx.redis, ctx.keys, since=now - timedelta(hours=24), page_size=1))
    assert [e.action for e in since_day] == ["recent.1", "recent.2"]
    until_day = list(audit.read(ctx.redis, ctx.keys, until=now - timedelta(hours=24)))
    assert [e.action for e in until_day] == ["old.3", "old.2", "old.1", "yesterday"]
    window = list(audit.read(ctx.redis, ctx.keys, since=now - timedelta(days=2), until=now - timedelta(hours=24)))
    assert [e.action for e in window] == ["yesterday"]
    # The `until` bound is inclusive to the millisecond; `since` too.
    exact = everything[3].time
    assert [e.action for e in audit.read(ctx.redis, ctx.keys, since=exact, until=exact)] == ["yesterday"]


def test_retention_never_trims_entries_younger_than_it(ctx: Context) -> None:
    now = datetime.now(UTC)
    add_at(ctx, now - timedelta(days=100), "ancient")
    add_at(ctx, now - timedelta(days=10), "recent enough")
    audit.record(ctx.redis, ctx.keys, actor="rollbot", action="new", result="ok", retention_seconds=30 * 86400)
    # XADD MINID ~ trims by age (whole stream nodes at a time), never by count: what is younger stays.
    assert [e.action for e in audit.read(ctx.redis, ctx.keys)][-2:] == ["recent enough", "new"]


def test_parse_lines_names_a_bad_line() -> None:
    good = audit.AuditEntry(id="1-0", time=datetime(2026, 1, 2, tzinfo=UTC), actor="a", action="b", result="c")
    assert audit.parse_lines([good.to_json_line(), "", "  "]) == [good]
    with pytest.raises(ValueError, match="line 2 is not an audit entry"):
        audit.parse_lines([good.to_json_line(), '{"id": "2-0"}'])
