"""Checkpoints done right: a rollback resets to the recorded checkpoint on any later day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobs.context import Context
from jobs.core.exceptions import NoCheckpointError
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import create_run, enqueue_job, enqueue_run
from jobs.runs.plan import select, with_checkpoint
from tests.conftest import commit, git, run_worker, write_runbook
from tests.support.runs import preflight


def enqueue_rollback(ctx: Context, runbook_path: Path) -> str:
    runbook = load_runbook(runbook_path)
    plan = select(runbook, "rollback", "phase2")
    plan = with_checkpoint(plan, ctx.checkpoints.get(runbook.service, "phase2"))
    return enqueue_run(ctx, plan, "U0123ONCALL").run_id


@pytest.mark.parametrize("days_ago", [0, 1, 40])
def test_rollback_resets_main_to_the_recorded_checkpoint(
    ctx: Context, env: dict[str, str], repo: Path, days_ago: int
) -> None:
    runbook_path = write_runbook(Path(env["RUNBOOK"]), repo)
    taken = datetime.now(UTC) - timedelta(days=days_ago)
    good = git(repo, "rev-parse", "HEAD")
    preflight(ctx, runbook_path, clock=taken)

    checkpoint = ctx.checkpoints.get("sandbox", "phase2")
    assert checkpoint is not None and checkpoint.commit == good
    assert checkpoint.tag == f"pre-factory-consolidation-{taken:%Y%m%d}"
    assert git(repo, "rev-parse", f"{checkpoint.tag}^{{commit}}") == good
    assert git(repo, "branch", "--show-current") == f"factory-consolidation-{taken:%Y%m%d}"

    git(repo, "checkout", "-q", "main")
    commit(repo, "bad commit 1")
    bad = commit(repo, "bad commit 2")
    assert bad != good

    run_id = enqueue_rollback(ctx, runbook_path)
    run_worker(env)

    record = ctx.runs.get(run_id)
    assert record.status == "succeeded", record
    assert git(repo, "rev-parse", "HEAD") == good
    assert git(repo, "branch", "--show-current") == "main"
    assert record.head_before == bad and record.head_after == good
    assert record.checkpoint_tag == checkpoint.tag
    assert [s.status for s in record.steps] == ["succeeded"]


def test_second_checkpoint_the_same_day_gets_a_suffix(ctx: Context, env: dict[str, str], repo: Path) -> None:
    runbook_path = write_runbook(Path(env["RUNBOOK"]), repo)
    day = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    preflight(ctx, runbook_path, clock=day)
    git(repo, "checkout", "-q", "main")
    second = commit(repo, "new baseline")
    preflight(ctx, runbook_path, clock=day + timedelta(hours=5))
    checkpoint = ctx.checkpoints.get("sandbox", "phase2")
    assert checkpoint is not None
    assert checkpoint.tag == "pre-factory-consolidation-20261124-2" and checkpoint.commit == second
    assert checkpoint.branch == "factory-consolidation-20261124-2"
    # Replacing a checkpoint is said in the run, and the old one is kept in the history.
    latest = ctx.runs.recent(1)[0]
    assert "it replaces pre-factory-consolidation-20261124 (" in (latest.steps[0].detail or "")
    assert latest.checkpoint_tag == checkpoint.tag
    assert len(ctx.redis.lrange(ctx.keys.checkpoint_history("sandbox", "phase2"), 0, -1)) == 1


def test_rollback_without_checkpoint_refuses_before_touching_anything(
    ctx: Context, env: dict[str, str], repo: Path
) -> None:
    runbook_path = write_runbook(Path(env["RUNBOOK"]), repo)
    bad = commit(repo, "bad commit")
    with pytest.raises(NoCheckpointError, match=r"/preflight phase2"):
        enqueue_rollback(ctx, runbook_path)
    assert ctx.runs.recent() == []

    # A run that reaches a worker without a checkpoint (recorded one deleted meanwhile) refuses too.
    runbook = load_runbook(runbook_path)
    record = create_run(ctx, select(runbook, "rollback", "phase2"), "U1", queued_for_workers=True)
    enqueue_job(ctx, record)
    run_worker(env)
    refused = ctx.runs.get(record.run_id)
    assert refused.status == "refused" and "/preflight phase2" in (refused.error or "")
    assert git(repo, "rev-parse", "HEAD") == bad


def test_dirty_working_tree_is_stashed_and_reported(ctx: Context, env: dict[str, str], repo: Path) -> None:
    runbook_path = write_runbook(Path(env["RUNBOOK"]), repo)
    good = git(repo, "rev-parse", "HEAD")
    preflight(ctx, runbook_path)
    git(repo, "checkout", "-q", "main")
    commit(repo, "bad")
    (repo / "app.txt").write_text("hotfix typed by hand\n")
    (repo / "notes.txt").write_text("untracked\n")

    run_id = enqueue_rollback(ctx, runbook_path)
    run_worker(env)

    record = ctx.runs.get(run_id)
    assert record.status == "succeeded"
    assert git(repo, "rev-parse", "HEAD") == good
    assert "stashed 2 uncommitted change(s)" in (record.steps[0].detail or "")
    assert f"rollbot: before rollback {run_id}" in git(repo, "stash", "list")
    assert git(repo, "status", "--porcelain") == ""
