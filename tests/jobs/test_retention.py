"""Retention: runs, their logs and marks, and audit entries older than ROLLBOT_RETENTION leave Redis;
lists of runs cost the same however long their runs were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobs.context import Context
from jobs.core.settings import Settings
from jobs.records import audit, retention
from jobs.records.runs import RunRecord, StepRecord
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import enqueue_run
from jobs.runs.plan import select, with_checkpoint
from tests.conftest import ONCALL, commit, git, run_worker, write_runbook
from tests.support.audit import add_at
from tests.support.runs import preflight


def enqueue_rollback(ctx: Context, runbook_path: Path) -> str:
    """phase2's rollback to its recorded checkpoint, queued for a worker; returns the run id."""
    runbook = load_runbook(runbook_path)
    plan = with_checkpoint(select(runbook, "rollback", "phase2"), ctx.checkpoints.get(runbook.service, "phase2"))
    return enqueue_run(ctx, plan, ONCALL).run_id


def _run(ctx: Context, run_id: str, created: datetime, status: str = "succeeded") -> RunRecord:
    record = RunRecord(run_id=run_id, kind="rollback", service="svc", phase="phase2", actor="U0ONCALL",
                       status=status, created_at=created, budget=300,
                       steps=[StepRecord(index=0, title="t", command="true", status="succeeded")])  # fmt: skip
    ctx.runs.create(record)
    ctx.redis.rpush(ctx.keys.run_log(run_id), "a line")
    ctx.redis.hset(ctx.keys.run_slack(run_id), "ts", "1.2")
    return record


def test_old_ended_runs_their_keys_and_old_audit_entries_are_trimmed(ctx: Context) -> None:
    now = datetime.now(UTC)
    _run(ctx, "rb-old-1", now - timedelta(days=100))
    _run(ctx, "rb-old-2", now - timedelta(days=91))
    _run(ctx, "rb-old-active", now - timedelta(days=95), status="running")
    _run(ctx, "rb-recent", now - timedelta(days=89))
    add_at(ctx, now - timedelta(days=100), "ancient")
    add_at(ctx, now - timedelta(days=89), "kept")

    assert retention.trim(ctx.redis, ctx.keys, 90 * 86400, batch=1) == 1  # a batch at a time …
    assert retention.trim(ctx.redis, ctx.keys, 90 * 86400) == 1  # … the next call goes on
    assert retention.trim(ctx.redis, ctx.keys, 90 * 86400) == 0

    assert {r.run_id for r in ctx.runs.recent(10)} == {"rb-old-active", "rb-recent"}
    for run_id in ("rb-old-1", "rb-old-2"):
        assert not any(ctx.redis.exists(key) for key in retention.run_keys(ctx.keys, run_id))
    for run_id in ("rb-old-active", "rb-recent"):
        assert ctx.redis.exists(ctx.keys.run(run_id), ctx.keys.run_log(run_id), ctx.keys.run_slack(run_id)) == 3
    assert [e.action for e in audit.read(ctx.redis, ctx.keys)] == ["kept"]


def test_retention_setting_defaults_to_90_days_and_the_audit_follows_it() -> None:
    assert Settings().rollbot_retention == 90 * 86400 == Settings().rollbot_audit_retention
    short = Settings(rollbot_retention="30d")
    assert short.rollbot_retention == 30 * 86400 == short.rollbot_audit_retention
    assert Settings(rollbot_retention="30d", rollbot_audit_retention="400d").rollbot_audit_retention == 400 * 86400


def test_a_worker_trims_after_the_run_it_executes(ctx: Context, env: dict[str, str], repo: Path) -> None:
    now = datetime.now(UTC)
    add_at(ctx, now - timedelta(days=730), "ancient")
    _run(ctx, "rb-two-years-ago", now - timedelta(days=730))
    runbook_path = write_runbook(Path(env["RUNBOOK"]), repo)
    preflight(ctx, runbook_path)
    git(repo, "checkout", "-q", "main")
    commit(repo, "bad commit")

    run_id = enqueue_rollback(ctx, runbook_path)
    run_worker(env)

    assert ctx.runs.get(run_id).status == "succeeded"
    assert "rb-two-years-ago" not in {r.run_id for r in ctx.runs.recent(50)}
    assert not ctx.redis.exists(ctx.keys.run_log("rb-two-years-ago"))
    assert "ancient" not in {e.action for e in audit.read(ctx.redis, ctx.keys)}


def test_a_list_of_runs_reads_ended_runs_without_their_steps_and_active_ones_whole(ctx: Context) -> None:
    now = datetime.now(UTC)
    _run(ctx, "rb-ended", now - timedelta(minutes=2))
    running = _run(ctx, "rb-running", now - timedelta(minutes=1), status="running")
    ctx.runs.save_step("rb-running", running.steps[0].model_copy(update={"status": "running"}))

    listed = ctx.runs.recent(10, steps=False)
    assert [r.run_id for r in listed] == ["rb-running", "rb-ended"]
    assert listed[1].steps == [] and listed[0].current_step is not None
    assert [r.model_copy(update={"steps": []}) for r in ctx.runs.recent(10)] == [
        r.model_copy(update={"steps": []}) for r in listed
    ]
