"""Click-to-first-step latency: a signed *Roll back now* click → the run's first step starting, vs a raw RQ no-op job.

`rollbot web` (gunicorn, 1 process × 16 threads) and a `rollbot worker` (all queues, scheduler on)
serve a fresh namespace; phase2's checkpoint is recorded by a preflight first, and its `immediate`
level starts with a trivial `true` step (then the reset to the checkpoint). Each trial shows the
plan (`/rollback phase2`, untimed), sends the signed `rollback_confirm` click and takes the first
step's `started_at` minus the moment the click was sent (wall clock, UTC); the service lock allows
one run at a time, so each run and every job it leaves behind ends before the next click. Side by
side, between trials, a bare `rq worker` (RQ's own CLI, same forking worker) is handed a no-op job
(`jobs.durations.parse_duration("1s")`) and the latency is the job's `started_at` minus the moment
it was enqueued: what RQ alone costs from a queue push to code running in a work horse.

Target: median ≤ 1.5× the no-op's median. The click does a signed HTTP round trip, Bolt's
verification, authorization, the enqueue guard and busy check (one round trip) and one transaction
for the run record, its audit entry and the job; the work horse (forked ahead of time by the
worker, `jobs.host.standby`) reads the record and the checkpoint and takes the service lock with
the lease (one round trip), takes the host's lock, reads HEAD (from the repository's files) and
writes the record before the first step. The run message, the page on start, the start's audit
entry and the lease's renewing thread come once the first step is under way
(`jobs.runs.steps.run_steps`), never before it.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import textwrap
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import trustme
from redis import Redis
from rq import Queue, Worker
from rq.job import Job

from bench.common import Row, print_rows
from bench.detect import _clean, _env
from jobs.context import Context
from jobs.core.ids import ActionId
from jobs.core.keys import QUEUE_NAMES, Keys
from jobs.core.redaction import Redactor
from jobs.core.redis_values import text
from jobs.core.settings import Settings
from jobs.records.runs import RunRecord
from tests.conftest import (
    DEFAULT_ACCESS,
    ONCALL,
    REDIS_URL,
    RUNBOOK_HEAD,
    commit,
    make_repo,
    start_web,
    start_worker,
    stop,
    stop_worker,
    wait_for,
)
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import action_body, button_value, signed_post
from tests.standins.slack import SlackStandIn
from tests.support.monitor import checkpoint_then_bad_release
from tests.support.slack import slash

TRIALS = 10
NOOPS_PER_TRIAL = 3
TARGET = 1.5  # × the no-op's median
RQ = str(Path(sys.executable).with_name("rq"))
SERVICE = "clickbench"
PHASE2 = """\
  phase2:
    title: Click benchmark
    risk: medium
    checkpoint: pre-click-bench
    preflight:
      - uses: git.checkpoint
    levels:
      immediate:
        budget: 5m
        steps:
          - name: First step
            run: ["true"]
          - uses: git.reset_to_checkpoint
"""


@dataclass(frozen=True)
class Trial:
    """Seconds from sending the click."""

    first_step: float  # → the first step started
    recorded: float  # → the run record was created (web: verify, authorize, guard, record, push)
    dequeued: float  # → RQ started the job in a work horse


def clean(redis: Redis, namespace: str) -> None:
    """bench/detect.py's cleanup, plus RQ's keys of jobs queued in the namespace under ids without it
    (rollbot gives some helper jobs RQ's random ids; RQ would expire them after `result_ttl`).
    """
    _clean(redis, namespace)
    for key in redis.scan_iter(match="rq:job:*", count=1000):
        origin = redis.hget(key, "origin")
        if origin is not None and text(origin).startswith(namespace):
            job_id = text(key).removeprefix("rq:job:")
            keys = list(redis.scan_iter(match=f"rq:*{job_id}*", count=1000))
            if keys:
                redis.delete(*keys)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _runbook(path: Path, repo: Path) -> Path:
    head = RUNBOOK_HEAD.format(service=SERVICE, repo=repo, access=textwrap.dedent(DEFAULT_ACCESS))
    path.write_text(head + PHASE2)
    return path


def idle(redis: Redis, namespace: str) -> bool:
    """The rollbot worker is idle and its queues are empty (a finished run leaves nothing running)."""
    queues_empty = all(Queue(Keys(namespace).queue(name), connection=redis).count == 0 for name in QUEUE_NAMES)
    workers = [w for w in Worker.all(connection=redis) if w.name.startswith(namespace)]
    return queues_empty and bool(workers) and all(w.get_state() == "idle" for w in workers)


def _click(ctx: Context, web: str, slack: SlackStandIn, http: httpx.Client, repo: Path, index: int) -> Trial:
    """Show the plan, click *Roll back now*, wait for the run to end and the worker to be idle again."""
    commit(repo, f"bad release {index}")
    answer = slash(web, slack, "/rollback", "phase2")
    body = action_body(ActionId.ROLLBACK_CONFIRM, button_value(answer["blocks"], ActionId.ROLLBACK_CONFIRM), ONCALL,
                       slack.response_url(f"click{index}"))  # fmt: skip
    known = {r.run_id for r in ctx.runs.recent(50)}
    clicked = datetime.now(UTC)
    response = signed_post(f"{web}/slack/events", body, client=http)
    assert response.status_code == 200, response.text

    def started() -> RunRecord | None:
        runs = [r for r in ctx.runs.recent(5) if r.kind == "rollback" and r.run_id not in known]
        return runs[0] if runs and runs[0].steps and runs[0].steps[0].started_at else None

    run: RunRecord = wait_for(started, 30, "the first step to start")
    wait_for(lambda: not ctx.runs.get(run.run_id).is_active, 60, "the rollback to end")
    final = ctx.runs.get(run.run_id)
    assert final.status == "succeeded", final
    wait_for(lambda: Job.fetch(run.run_id, connection=ctx.redis).get_status() == "finished", 30, "its job to end")
    wait_for(lambda: idle(ctx.redis, ctx.keys.namespace), 30, "the worker to be idle")
    first = final.steps[0].started_at
    job_started = Job.fetch(run.run_id, connection=ctx.redis).started_at
    assert first is not None and job_started is not None
    return Trial((first - clicked).total_seconds(), (final.created_at - clicked).total_seconds(),
                 (_utc(job_started) - clicked).total_seconds())  # fmt: skip


def _noop(queue: Queue, redis: Redis, job_id: str) -> float:
    """Seconds from enqueueing a no-op job to a bare RQ worker starting it."""
    enqueued = datetime.now(UTC)
    queue.enqueue("jobs.core.durations.parse_duration", "1s", job_id=job_id, result_ttl=60)
    wait_for(lambda: Job.fetch(job_id, connection=redis).get_status() == "finished", 30, "the no-op job to end")
    started_at = Job.fetch(job_id, connection=redis).started_at
    assert started_at is not None
    return (_utc(started_at) - enqueued).total_seconds()


def run() -> list[Row]:
    """Alternate clicks (through rollbot) and no-op jobs (through a bare RQ worker); return the row."""
    redis = Redis.from_url(REDIS_URL)
    ca = trustme.CA()
    slack = SlackStandIn().start()
    pagerduty = PagerDutyStandIn(ca).start()
    namespace, baseline_ns = f"bench{uuid.uuid4().hex[:8]}", f"bench{uuid.uuid4().hex[:8]}"
    ctx = Context(redis, Keys(namespace), Settings(rollbot_namespace=namespace, redis_url=REDIS_URL), Redactor([]))
    queue = Queue(f"{baseline_ns}-noop", connection=redis)
    bare = subprocess.Popen(
        [RQ, "worker", "--url", REDIS_URL, "--name", f"{baseline_ns}-worker", queue.name],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    trials: list[Trial] = []
    noops: list[float] = []
    web = worker = None
    try:
        with tempfile.TemporaryDirectory() as tmp, httpx.Client() as http:
            bundle = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(bundle))
            repo = make_repo(Path(tmp) / "service")
            env = _env(namespace, _runbook(Path(tmp) / "runbook.yaml", repo), slack, pagerduty, bundle)
            checkpoint_then_bad_release(ctx, Path(env["RUNBOOK"]), repo)
            web, base = start_web(env)
            worker = start_worker(env)
            _noop(queue, redis, f"{baseline_ns}-warmup")  # the bare worker is up and has forked once
            _click(ctx, base, slack, http, repo, 0)  # warm-up: the web's threads, pools and runbook cache, a horse
            for index in range(1, TRIALS + 1):
                trials.append(_click(ctx, base, slack, http, repo, index))
                noops += [_noop(queue, redis, f"{baseline_ns}-{index}-{n}") for n in range(NOOPS_PER_TRIAL)]
    finally:
        if worker is not None:
            stop_worker(worker)
        if web is not None:
            stop(web)
        stop_worker(bare)
        slack.stop()
        pagerduty.stop()
        clean(redis, namespace)
        clean(redis, baseline_ns)
    ms = {name: statistics.median(getattr(t, name) for t in trials) * 1000 for name in ("first_step", "recorded",
                                                                                     "dequeued")}  # fmt: skip
    noop_ms = statistics.median(noops) * 1000
    ratio = ms["first_step"] / noop_ms
    worst = max(t.first_step for t in trials) * 1000
    return [
        Row("click-to-first-step latency", "signed *Roll back now* click → first step started (web + worker) vs "
            "enqueue → started of a no-op job on a bare `rq worker`", ratio,
            f"median ≤ {TARGET:g}× the no-op's", ms["first_step"] <= TARGET * noop_ms,
            f"rollbot median {ms['first_step']:.1f} ms, max {worst:.1f} ms over {TRIALS} clicks "
            f"(medians: click → run recorded {ms['recorded']:.1f} ms, → job started {ms['dequeued']:.1f} ms, → "
            f"first step {ms['first_step']:.1f} ms); no-op median {noop_ms:.1f} ms, max {max(noops) * 1000:.1f} ms "
            f"({len(noops)} jobs)"),
    ]  # fmt: skip


if __name__ == "__main__":
    print_rows(run())
