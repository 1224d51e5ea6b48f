"""`rollbot report` and `rollbot audit export|show` as people run them from a terminal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobs import report
from jobs.context import Context
from jobs.records import audit
from jobs.runbook.loader import load_runbook
from tests.conftest import write_runbook
from tests.support.audit import add_at
from tests.support.cli import rollbot


def test_report_prints_the_incident_report_and_refuses_an_unknown_run(
    ctx: Context, env: dict[str, str], repo: Path
) -> None:
    path = write_runbook(Path(env["RUNBOOK"]), repo, steps="- name: deploy\n  run: [sh, -c, 'echo quota; exit 4']\n")
    assert rollbot(env, "preflight", "phase2").returncode == 0
    done = rollbot(env, "rollback", "phase2")
    assert done.returncode == 1
    run = ctx.runs.recent(1)[0]
    assert f"Incident report: `rollbot report {run.run_id}`." in done.stdout

    printed = rollbot(env, "report", run.run_id)

    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == report.build_report(ctx, run.run_id, load_runbook(path))
    assert printed.stdout.startswith("# Incident report: sandbox rollback phase2 — Factory Pattern Consolidation")
    assert "| 2 | deploy | ❌ failed |" in printed.stdout and "exit code 4" in printed.stdout
    assert "**not recovered**" in printed.stdout and "- [ ] Root Cause Analysis" in printed.stdout

    unknown = rollbot(env, "report", "rb-20260101-000000-dead")
    assert unknown.returncode == 1
    assert unknown.stdout == ""
    assert "No run `rb-20260101-000000-dead`" in unknown.stderr

    preflight = next(r for r in ctx.runs.recent(10) if r.kind == "preflight")
    not_rollback = rollbot(env, "report", preflight.run_id)
    assert not_rollback.returncode == 1 and "incident reports are made for rollback runs" in not_rollback.stderr


def test_audit_export_writes_json_lines_filtered_by_time(ctx: Context, env: dict[str, str], tmp_path: Path) -> None:
    now = datetime.now(UTC)
    add_at(ctx, now - timedelta(days=2), "old.request", run_id="rb-old")
    ctx.audit(actor="U0ONCALL", action="rollback.request", result="queued", run_id="rb-new", phase="phase2")
    ctx.audit(actor="U0LEAD", action="approval.approve", result="approved", run_id="rb-new")

    everything = rollbot(env, "audit", "export")
    assert everything.returncode == 0, everything.stderr
    assert audit.parse_lines(everything.stdout.splitlines()) == list(audit.read(ctx.redis, ctx.keys))
    assert len(everything.stdout.splitlines()) == 3

    recent = rollbot(env, "audit", "export", "--since", "24h")
    assert recent.returncode == 0, recent.stderr
    rows = [json.loads(line) for line in recent.stdout.splitlines()]
    assert [r["action"] for r in rows] == ["rollback.request", "approval.approve"]
    assert rows[0]["run_id"] == "rb-new" and rows[0]["args"] == {"phase": "phase2"}
    assert datetime.fromisoformat(rows[0]["time"]) > now - timedelta(minutes=5)

    older = rollbot(env, "audit", "export", "--until", "1d")
    assert [json.loads(line)["action"] for line in older.stdout.splitlines()] == ["old.request"]
    since_iso = (now - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S")  # naive: UTC
    window = rollbot(env, "audit", "export", "--since", since_iso, "--until", "24h")
    assert [json.loads(line)["action"] for line in window.stdout.splitlines()] == ["old.request"]

    target = tmp_path / "audit.jsonl"
    written = rollbot(env, "audit", "export", "--since", "24h", "--output", str(target))
    assert written.returncode == 0 and written.stdout == ""
    assert "2 audit entries written to" in written.stderr
    assert target.read_text() == recent.stdout

    bad = rollbot(env, "audit", "export", "--since", "yesterday")
    assert bad.returncode == 2 and "neither a duration" in bad.stderr and bad.stdout == ""

    shown = rollbot(env, "audit", "show", "--run", "rb-new")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 2 and "U0LEAD" in lines[1] and "approval.approve → approved rb-new" in lines[1]
