"""The fault matrix of the break-glass path: Redis down before and during a rollback, restarted
empty mid-run, flushed between preflight and rollback, a journal replayed by two processes at
once, and a run stopped (SIGSTOP) past its lease. Real processes, a private `redis-server`.
Each test names the state it ends in.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobs.context import Context
from jobs.core.exceptions import RollbotError
from jobs.core.keys import Keys
from jobs.host.checkpoint_refs import ref_name
from jobs.records import audit
from jobs.records.runs import RunStore
from tests.conftest import commit, free_port, git, start_worker, stop_worker, wait_for, write_runbook
from tests.standins.slack import SlackStandIn
from tests.support.cli import rollbot, start_rollbot
from tests.support.redis_server import PrivateRedis

CLOSED = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


def _gate_step(tmp_path: Path) -> tuple[str, Path, Path]:
    """A level step that says it started (a file) and waits until the test lets it go (another file)."""
    started, release = tmp_path / "step-started", tmp_path / "step-release"
    code = (f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); "
            f"[time.sleep(0.05) for _ in range(1200) if not pathlib.Path({str(release)!r}).exists()]")  # fmt: skip
    steps = f"- name: Wait for the test\n  run: [{sys.executable}, -c, {json.dumps(code)}]\n"
    return steps, started, release


def _marker_step(tmp_path: Path) -> tuple[str, Path]:
    marker = tmp_path / "last-step-ran"
    steps = f"- name: Last step\n  run: [{sys.executable}, -c, \"open({str(marker)!r}, 'a').write('x')\"]\n"
    return steps, marker


def _history(env: dict[str, str], **extra: str) -> str:
    done = rollbot(env, "history", "--count", "50", **extra)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _prepare(env: dict[str, str], repo: Path, steps: str = "", **extra: str) -> tuple[str, str]:
    """Runbook, a preflight (checkpoint recorded), two bad commits; returns (good, bad) commits."""
    write_runbook(Path(env["RUNBOOK"]), repo, steps=steps)
    good = git(repo, "rev-parse", "HEAD")
    done = rollbot(env, "preflight", "phase2", "--yes", **extra)
    assert done.returncode == 0, done.stdout + done.stderr
    git(repo, "checkout", "-q", "main")
    commit(repo, "bad 1")
    return good, commit(repo, "bad 2")


def test_checkpoint_is_recorded_in_git_with_its_history(ctx: Context, env: dict[str, str], repo: Path) -> None:
    """State: two checkpoints in git's chain, the newest current; Redis emptied gets it back."""
    write_runbook(Path(env["RUNBOOK"]), repo)
    assert rollbot(env, "preflight", "phase2", "--yes").returncode == 0
    git(repo, "checkout", "-q", "main")
    commit(repo, "next good release")
    assert rollbot(env, "preflight", "phase2", "--yes").returncode == 0
    messages = git(repo, "log", "--format=%s", ref_name("sandbox", "phase2")).splitlines()
    assert len(messages) == 2
    newest = json.loads(messages[0])
    current = ctx.checkpoints.get("sandbox", "phase2")
    assert current is not None and newest["commit"] == current.commit and newest["tag"] == current.tag

    ctx.redis.delete(ctx.keys.checkpoint("sandbox", "phase2"), ctx.keys.checkpoint_history("sandbox", "phase2"))
    assert ctx.checkpoints.get("sandbox", "phase2") is None  # Redis alone: lost
    restored = ctx.checkpoints.get("sandbox", "phase2", repo=repo)
    assert restored == current
    assert ctx.checkpoints.get("sandbox", "phase2") == current  # put back into Redis
    assert len(ctx.redis.lrange(ctx.keys.checkpoint_history("sandbox", "phase2"), 0, -1)) == 1


def test_rollback_without_redis_resets_and_appears_in_history_once_redis_answers(
    env: dict[str, str], repo: Path, ctx: Context
) -> None:
    """State: HEAD at the checkpoint, the run `succeeded` in history and audit, its journal gone."""
    good, bad = _prepare(env, repo)

    dry = rollbot(env, "rollback", "phase2", "--dry-run", REDIS_URL=CLOSED)
    assert dry.returncode == 0, dry.stderr
    assert good[:12] in dry.stdout and "does not answer" in dry.stdout
    assert git(repo, "rev-parse", "HEAD") == bad

    done = rollbot(env, "rollback", "phase2", "--yes", REDIS_URL=CLOSED)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert git(repo, "rev-parse", "HEAD") == good
    assert "without Redis" in done.stdout
    run_id = next(word for word in done.stdout.split() if word.startswith("rb-"))
    journal = Path(env["ROLLBOT_STATE_DIR"]) / "journal" / env["ROLLBOT_NAMESPACE"] / f"{run_id}.jsonl"
    assert str(journal) in done.stdout and journal.exists()
    assert ctx.redis.exists(ctx.keys.run(run_id)) == 0  # Redis never saw it

    history = _history(env)  # Redis answers: the journal is written back first
    assert history.count(run_id) == 1 and "succeeded" in history
    assert not journal.exists()
    actions = [e.action for e in audit.read(ctx.redis, ctx.keys) if e.run_id == run_id]
    assert actions == ["rollback.request", "rollback.start", "step.end", "rollback.end"]
    assert _history(env).count(run_id) == 1  # once


def test_dry_run_and_rollback_after_flushall_use_the_checkpoint_in_git(
    env: dict[str, str], repo: Path, private_redis: PrivateRedis
) -> None:
    """State: after FLUSHALL the plan shows the git checkpoint, the rollback resets to it, Redis has it again."""
    good, bad = _prepare(env, repo, REDIS_URL=private_redis.url)
    private_redis.client().flushall()

    dry = rollbot(env, "rollback", "phase2", "--dry-run", REDIS_URL=private_redis.url)
    assert dry.returncode == 0, dry.stderr
    assert good[:12] in dry.stdout and "<recorded checkpoint>" not in dry.stdout

    done = rollbot(env, "rollback", "phase2", "--yes", REDIS_URL=private_redis.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "rev-parse", "HEAD") == good
    keys = Keys(env["ROLLBOT_NAMESPACE"])
    assert private_redis.client().get(keys.checkpoint("sandbox", "phase2")) is not None
    # A new preflight says what it replaces (never a silent replacement of what git had).
    again = rollbot(env, "preflight", "phase2", "--yes", REDIS_URL=private_redis.url)
    assert "it replaces pre-factory-consolidation-" in again.stdout
    assert bad != good


@pytest.mark.parametrize("fault", ["restarted empty", "down until after the run"])
def test_cli_rollback_survives_redis_going_away_mid_run(
    env: dict[str, str], repo: Path, private_redis: PrivateRedis, tmp_path: Path, fault: str
) -> None:
    """State: exit 0, no traceback, HEAD at the checkpoint, the run `succeeded` in history with every step."""
    gate, started, release = _gate_step(tmp_path)
    last, marker = _marker_step(tmp_path)
    good, _bad = _prepare(env, repo, steps=gate + last, REDIS_URL=private_redis.url)
    proc = start_rollbot(env, "rollback", "phase2", "--yes", REDIS_URL=private_redis.url)
    try:
        wait_for(started.exists, timeout=60, message="the gated step to start")
        if fault == "restarted empty":
            private_redis.restart_empty()
        else:
            private_redis.stop()
        release.touch()
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err
    assert git(repo, "rev-parse", "HEAD") == good
    assert marker.read_text() == "x"  # the last step ran, once
    run_id = next(word for word in out.split() if word.startswith("rb-"))
    if fault != "restarted empty":
        assert "without Redis" in out
        private_redis.start()
    history = _history(env, REDIS_URL=private_redis.url)
    assert run_id in history and "succeeded" in history
    stored = RunStore(private_redis.client(), Keys(env["ROLLBOT_NAMESPACE"])).get(run_id)
    assert stored.status == "succeeded"
    assert [s.status for s in stored.steps] == ["succeeded"] * 3


def test_journal_replayed_by_two_processes_at_once_is_written_once(
    env: dict[str, str], repo: Path, ctx: Context
) -> None:
    """State: the run once in history, each of its audit entries once."""
    _prepare(env, repo)
    done = rollbot(env, "rollback", "phase2", "--yes", REDIS_URL=CLOSED)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = next(word for word in done.stdout.split() if word.startswith("rb-"))

    procs = [start_rollbot(env, "sync") for _ in range(2)]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    assert _history(env).count(run_id) == 1
    actions = [e.action for e in audit.read(ctx.redis, ctx.keys) if e.run_id == run_id]
    assert actions == ["rollback.request", "rollback.start", "step.end", "rollback.end"]


def test_run_stopped_past_its_lease_stops_before_its_next_step(
    env: dict[str, str], repo: Path, ctx: Context, tmp_path: Path
) -> None:
    """State: the run `interrupted` (the sweep's verdict stands), its last step never ran."""
    gate, started, release = _gate_step(tmp_path)
    last, marker = _marker_step(tmp_path)
    _prepare(env, repo, steps=gate + last)
    proc = start_rollbot(env, "rollback", "phase2", "--yes")
    try:
        wait_for(started.exists, timeout=60, message="the gated step to start")
        os.kill(proc.pid, signal.SIGSTOP)
        lease = ctx.keys.run_lease(ctx.runs.recent(1)[0].run_id)
        wait_for(lambda: not ctx.redis.exists(lease), timeout=30, message="the lease to lapse while it is stopped")
        status = rollbot(env, "status")  # a sweep from another process ends it
        assert status.returncode == 0, status.stderr
        run = ctx.runs.recent(1)[0]
        assert run.status == "interrupted"
        release.touch()
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
    assert proc.returncode == 1, out + err
    assert not marker.exists()
    final = ctx.runs.get(run.run_id)
    assert final.status == "interrupted"
    assert final.steps[-1].status in ("cancelled", "skipped")
    assert "ended from outside" in out + err


def _last_run_metadata(slack: SlackStandIn, run_id: str) -> dict[str, Any] | None:
    for call in reversed(slack.calls):
        metadata = call.params.get("metadata") or {}
        if metadata.get("event_type") == "rollbot_run" and metadata["event_payload"]["run_id"] == run_id:
            payload: dict[str, Any] = metadata["event_payload"]
            return payload
    return None


def test_worker_run_survives_redis_restarted_empty(
    env: dict[str, str], repo: Path, private_redis: PrivateRedis, tmp_path: Path, slack: SlackStandIn
) -> None:
    """State: the run `succeeded` in the emptied Redis, every step once, its Slack message ends `succeeded`."""
    gate, started, release = _gate_step(tmp_path)
    last, marker = _marker_step(tmp_path)
    good, _bad = _prepare(env, repo, steps=gate + last, REDIS_URL=private_redis.url)
    queued = rollbot(env, "rollback", "phase2", "--yes", "--enqueue", REDIS_URL=private_redis.url)
    assert queued.returncode == 0, queued.stderr
    run_id = next(word for word in queued.stdout.split() if word.startswith("rb-"))
    worker = start_worker(env, REDIS_URL=private_redis.url)
    store = RunStore(private_redis.client(), Keys(env["ROLLBOT_NAMESPACE"]))
    try:
        wait_for(started.exists, timeout=60, message="the gated step to start")
        private_redis.restart_empty()
        release.touch()

        def ended() -> bool:
            try:
                return store.get(run_id).status == "succeeded"
            except RollbotError:
                return False

        wait_for(ended, timeout=60, message="the run to be written back as succeeded")
        wait_for(lambda: (_last_run_metadata(slack, run_id) or {}).get("status") == "succeeded", timeout=30,
                 message="the Slack message to end succeeded")  # fmt: skip
    finally:
        stop_worker(worker)
    assert git(repo, "rev-parse", "HEAD") == good
    assert marker.read_text() == "x"
    assert [s.status for s in store.get(run_id).steps] == ["succeeded"] * 3
