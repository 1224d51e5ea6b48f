"""A rollback rides out a Redis master crash: Sentinel promotes the replica, the worker, its work
horse and RQ's scheduler find the new master through the sentinels, and the run ends `succeeded`
with every step run exactly once.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from redis.sentinel import MasterNotFoundError
from rq.utils import utcparse

from jobs import factory
from jobs.context import Context
from jobs.core.redis_values import text
from jobs.records.runs import RunRecord
from tests.conftest import (
    _clear_caches,
    commit,
    git,
    start_web,
    start_worker,
    stop,
    stop_worker,
    wait_for,
    write_runbook,
)  # fmt: skip
from tests.standins.redis_servers import MASTER_NAME, RedisProcesses, sentinels_ready, wait_until
from tests.support.cli import rollbot

STEP_LIMIT_SECONDS = 60  # the deploy step waits for the test's release file, at most this long


def _ha_settings(sentinels: list[int]) -> dict[str, str]:
    """Settings that reach Redis only through the sentinels (REDIS_URL names nothing that answers)."""
    return {
        "REDIS_URL": "redis://nowhere.invalid:1/0",
        "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in sentinels),
        "REDIS_SENTINEL_MASTER": MASTER_NAME,
    }


def _steps(marker: Path, release: Path) -> str:
    """A deploy step that runs until the test releases it (once the failover is done), then a restart."""
    wait = f"i=0; while [ ! -e {release} ] && [ $i -lt {STEP_LIMIT_SECONDS * 20} ]; do sleep 0.05; i=$((i+1)); done"
    return (
        f"- name: deploy\n  run: [sh, -c, 'echo deploy >> {marker}; {wait}']\n"
        f"- name: restart\n  run: [sh, -c, 'echo restart >> {marker}']\n"
    )


def _scheduler_heartbeats(ctx: Context) -> list[datetime]:
    """Last heartbeats of the RQ schedulers registered on the current master."""
    beats = []
    for key in ctx.redis.scan_iter(match="rq:scheduler:*"):
        value = ctx.redis.hget(key, "last_heartbeat")
        if value:
            beats.append(utcparse(text(value)))
    return beats


def test_rollback_survives_a_master_crash_through_sentinel(
    env: dict[str, str], repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = RedisProcesses(tmp_path / "redis")
    worker: subprocess.Popen[str] | None = None
    marker, release = tmp_path / "marker.txt", tmp_path / "release"
    try:
        master = redis.server()
        replica = redis.server(replica_of=master)
        sentinels = [redis.sentinel(master) for _ in range(3)]
        wait_until(lambda: redis.in_sync(replica), 20, "the replica to sync")
        wait_until(sentinels_ready(redis, sentinels, replicas=1), 20, "the sentinels to see the replica and each other")
        ha = _ha_settings(sentinels)
        for name, value in ha.items():
            monkeypatch.setenv(name, value)
        _clear_caches()
        ctx = factory.get_context()  # the test reads through the sentinels too

        write_runbook(Path(env["RUNBOOK"]), repo, steps=_steps(marker, release))
        done = rollbot(env, "preflight", "phase2", "--yes", **ha)
        assert done.returncode == 0, done.stderr
        checkpoint = ctx.checkpoints.get("sandbox", "phase2")
        assert checkpoint is not None
        git(repo, "checkout", "-q", "main")
        commit(repo, "bad release")
        done = rollbot(env, "rollback", "phase2", "--yes", "--enqueue", **ha)
        assert done.returncode == 0, done.stderr
        (queued,) = [r for r in ctx.runs.active() if r.kind == "rollback"]

        worker = start_worker(env, **ha)

        def deploying() -> bool:
            record = ctx.runs.get(queued.run_id)
            step = record.current_step
            return step is not None and step.title == "deploy" and marker.exists()

        wait_for(deploying, timeout=30, message="the deploy step to run")
        wait_for(lambda: _scheduler_heartbeats(ctx), timeout=10, message="RQ's scheduler to register")
        with redis.client(master) as direct:  # replication is asynchronous: let the replica catch up
            assert direct.wait(1, 5000) == 1
        redis.kill(master)
        killed_at = datetime.now(UTC)
        started = time.monotonic()

        def promoted() -> bool:
            try:
                address = ctx.redis.connection_pool.get_master_address()  # type: ignore[attr-defined]
            except MasterNotFoundError:
                return False  # between the crash and the promotion
            return bool(address == ("127.0.0.1", replica))

        wait_until(promoted, 20, "the sentinels to promote the replica")
        failover_seconds = time.monotonic() - started
        release.touch()  # the deploy step ends on the new master

        def ended() -> RunRecord | None:
            record = ctx.runs.get(queued.run_id)
            return record if record.status not in ("queued", "running") else None

        final: RunRecord = wait_for(ended, timeout=30, message="the rollback to end")
        assert final.status == "succeeded", (f"failover took {failover_seconds:.1f}s", final)
        assert git(repo, "rev-parse", "HEAD") == checkpoint.commit
        assert marker.read_text().split() == ["deploy", "restart"]
        assert [(s.title, s.status) for s in final.steps] == [
            (final.steps[0].title, "succeeded"),
            ("deploy", "succeeded"),
            ("restart", "succeeded"),
        ]
        # RQ's scheduler process found the new master as well: it keeps beating there.
        wait_for(lambda: any(beat > killed_at for beat in _scheduler_heartbeats(ctx)), timeout=10,
                 message="the scheduler's heartbeat on the new master")  # fmt: skip
        # The web process finds the new master too.
        web, base = start_web(env, **ha)
        try:
            answer = httpx.get(f"{base}/healthz", timeout=5)
            assert answer.status_code == 200 and answer.json()["workers"] == 1, answer.text
        finally:
            stop(web)
        # Warm shutdown is prompt: no connection is left waiting for an interrupted command's reply.
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    finally:
        release.touch()  # a failed test leaves no step waiting
        if worker is not None:
            stop_worker(worker)
        redis.stop_all()
