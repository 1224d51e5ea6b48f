"""A run's step changes reach Redis from a background writer, in batches, and its observers hear of
each change only once Redis has it (real Redis, real `true` processes, no Slack or PagerDuty).
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from redis import Redis

from jobs import factory
from jobs.context import Context
from jobs.core.settings import Settings
from jobs.records import audit
from jobs.records.runs import StepRecord
from jobs.runbook.loader import load_runbook
from jobs.runbook.model import Runbook
from jobs.runs import state
from jobs.runs.enqueue import create_run
from jobs.runs.plan import select
from jobs.runs.runner import execute_run
from tests.support.redis_server import PrivateRedis

STEPS = 30


def _runbook(folder: Path, steps: int, argv: str = '["true"]', last: str | None = None) -> Runbook:
    lines = "\n".join(f"          - run: {argv}" for _ in range(steps)) + (f"\n          - run: {last}" if last else "")
    path = folder / "quick.yaml"
    path.write_text(
        f'version: 1\nservice: quick\nrepo: {folder}\nalert_channel: "#quick"\nphases:\n'
        f"  phase2:\n    title: Quick steps\n    risk: medium\n    levels:\n      immediate:\n"
        f"        budget: 10m\n        steps:\n{lines}\n"
    )
    return load_runbook(path)


def _context(redis_url: str, tmp_path: Path) -> Context:
    settings = Settings(redis_url=redis_url, rollbot_namespace=f"t{uuid.uuid4().hex[:12]}",
                        rollbot_state_dir=tmp_path / "state", rollbot_lease_seconds=30)  # fmt: skip
    return factory.build_context(settings)


def _clean(redis: Redis, namespace: str) -> None:
    keys = list(redis.scan_iter(match=f"{namespace}:*", count=1000))
    if keys:
        redis.delete(*keys)


def test_quick_steps_reach_redis_in_batches_not_one_round_trip_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "WRITE_EVERY_SECONDS", 0.5)  # steps of `true` are far quicker
    server = PrivateRedis(tmp_path / "redis").start()  # its own: the command counts are this test's alone
    try:
        ctx = _context(server.url, tmp_path)
        runbook = _runbook(tmp_path, STEPS)
        record = create_run(ctx, select(runbook, "rollback", "phase2"), "U0ONCALL")
        client = server.client()
        client.config_resetstat()

        final = execute_run(ctx, record.run_id, runbook)

        assert final.status == "succeeded"
        stored = ctx.runs.get(record.run_id)
        assert [step.status for step in stored.steps] == ["succeeded"] * STEPS
        ended = [e for e in audit.entries(ctx.redis, ctx.keys) if e["action"] == "step.end"]
        assert len(ended) == STEPS
        assert client.llen(ctx.keys.run_log(record.run_id)) >= STEPS  # each step's header line
        syncs = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        assert 0 < syncs < STEPS / 3, f"{syncs} syncs for {STEPS} quick steps"
    finally:
        server.stop()


def test_observers_hear_of_a_step_change_once_redis_has_it(tmp_path: Path) -> None:
    ctx = _context(Settings().redis_url, tmp_path)
    runbook = _runbook(tmp_path, 5)
    record = create_run(ctx, select(runbook, "rollback", "phase2"), "U0ONCALL")
    heard: list[tuple[int, str, str]] = []  # (step, status told, status Redis had then)

    def observer(step: StepRecord | None) -> None:
        if step is not None:
            status = step.status  # the step may move on while the observer runs: read it first
            heard.append((step.index, status, ctx.runs.get(record.run_id).steps[step.index].status))

    try:
        assert execute_run(ctx, record.run_id, runbook, [observer]).status == "succeeded"
    finally:
        _clean(ctx.redis, ctx.keys.namespace)

    last_heard = {index: had for index, _told, had in heard}  # what Redis had when the step's last change was told
    assert last_heard == dict.fromkeys(range(5), "succeeded")
    ends = [index for index, told, _ in heard if told == "succeeded"]
    assert ends == sorted(ends)  # in the order the steps ended


class _SlowWriterClock(ModuleType):
    """`time` as the state module sees it, except that the writer thread is held up a moment each
    time it reads the monotonic clock, as the OS may at any point (widens every window, changes no
    logic).
    """

    def __init__(self) -> None:
        super().__init__("time")

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def monotonic(self) -> float:
        if threading.current_thread().name.startswith("state-"):
            time.sleep(0.5)
        return time.monotonic()


def test_closing_never_waits_for_a_writer_that_missed_the_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "time", _SlowWriterClock())
    ctx = _context(Settings().redis_url, tmp_path)
    runbook = _runbook(tmp_path, 1)
    record = create_run(ctx, select(runbook, "rollback", "phase2"), "U0ONCALL")
    ended: list[str] = []
    runner = threading.Thread(target=lambda: ended.append(execute_run(ctx, record.run_id, runbook).status), daemon=True)
    try:
        runner.start()
        runner.join(30)  # a hang, not a measurement
        assert not runner.is_alive(), "the run never came back from closing its state"
    finally:
        _clean(ctx.redis, ctx.keys.namespace)
    assert ended == ["succeeded"]


def test_an_observer_that_fails_stops_neither_the_writer_nor_the_others(tmp_path: Path) -> None:
    ctx = _context(Settings().redis_url, tmp_path)
    runbook = _runbook(tmp_path, 1, last='["sleep", "2"]')
    record = create_run(ctx, select(runbook, "rollback", "phase2"), "U0ONCALL")
    heard: list[tuple[int, str]] = []
    sleeping = threading.Event()

    def failing_once(step: StepRecord | None) -> None:
        if step is not None and not heard:
            heard.append((step.index, "failed"))
            raise ValueError("a bug in one observer")

    def listening(step: StepRecord | None) -> None:
        if step is not None:
            heard.append((step.index, step.status))
            if step.index == 1 and step.status == "running":
                sleeping.set()

    ended: list[str] = []
    runner = threading.Thread(
        target=lambda: ended.append(execute_run(ctx, record.run_id, runbook, [failing_once, listening]).status),
        daemon=True,
    )
    try:
        runner.start()
        # the second step sleeps 2 s: its start is heard while it runs, not only once the run closes
        assert sleeping.wait(10), f"the second step's start was never heard while it ran: {heard}"
        assert runner.is_alive()
        runner.join(30)
    finally:
        _clean(ctx.redis, ctx.keys.namespace)
    assert ended == ["succeeded"]
    assert heard[-1] == (1, "succeeded")
