"""Detection latency: the health endpoint turning bad → the automated rollback starting, at `interval: 1s`.

The scenario of tests/jobs/test_monitor.py: a `rollbot worker` (all queues, RQ's scheduler on)
polls a local health endpoint every second (`failure_limit: 0`, `on_breach: {mode: auto}`), pages
the PagerDuty stand-in and posts the card to the Slack stand-in. Each trial has a fresh namespace,
repository and worker: once a healthy measurement is recorded, the endpoint turns bad at a point
spread over the poll interval (trial k of N: k/N of an interval after that measurement), and the
latency is the run's `started_at` minus that moment (wall clock, UTC). The ratio is the median
latency over the interval; target ≤ 3×. Side by side, a bare `rq worker --with-scheduler` starts a
no-op job enqueued with `enqueue_in(1s)`: the delay RQ's scheduler alone adds to a 1 s wait.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme
from redis import Redis
from rq import Queue
from rq.job import Job

from bench.common import Row, print_rows
from jobs.context import Context
from jobs.core.keys import Keys
from jobs.core.redaction import Redactor
from jobs.core.redis_values import text
from jobs.core.settings import Settings
from tests.conftest import (
    PD_API_TOKEN,
    PD_FROM,
    PD_ROUTING_KEY,
    PD_WEBHOOK_SECRETS,
    REDIS_URL,
    TEST_BOT_TOKEN,
    make_repo,
    start_worker,
    stop_worker,
    wait_for,
)
from tests.standins.health import HealthEndpoint
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import SIGNING_SECRET
from tests.standins.slack import SlackStandIn
from tests.support.monitor import BAD, automated_runs, checkpoint_then_bad_release, health_runbook, state

TRIALS = 5
INTERVAL = 1.0  # seconds: the runbook's `interval: 1s`
TARGET = 3.0  # × the interval
NOOP_PER_TRIAL = 2  # baseline jobs after each trial
RQ = str(Path(sys.executable).with_name("rq"))


@dataclass(frozen=True)
class Trial:
    """One bad turn, in seconds from the moment the endpoint turned bad."""

    latency: float  # → the rollback run started
    polled: float  # → the failing measurement
    queued: float  # → the run record was created (and its job queued)


def _clean(redis: Redis, namespace: str) -> None:
    """Every key of the namespace, RQ's for it and for its runs (as the tests' `env` fixture does, plus `rq:queues`)."""
    run_ids = [text(i) for i in redis.zrange(Keys(namespace).runs, 0, -1)]
    for pattern in (f"{namespace}:*", f"rq:*{namespace}*", *(f"rq:*{run_id}*" for run_id in run_ids)):
        keys = list(redis.scan_iter(match=pattern, count=1000))
        if keys:
            redis.delete(*keys)
    for registry in ("rq:workers", "rq:queues"):  # RQ's indexes of every worker and queue
        for member in redis.smembers(registry):
            if namespace.encode() in member:
                redis.srem(registry, member)


def _env(namespace: str, runbook: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn, bundle: Path
         ) -> dict[str, str]:  # fmt: skip
    return {
        "ROLLBOT_NAMESPACE": namespace, "REDIS_URL": REDIS_URL, "RUNBOOK": str(runbook),
        "SLACK_BOT_TOKEN": TEST_BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url,
        "PAGERDUTY_ROUTING_KEY": PD_ROUTING_KEY, "PAGERDUTY_API_TOKEN": PD_API_TOKEN, "PAGERDUTY_FROM_EMAIL": PD_FROM,
        "PAGERDUTY_WEBHOOK_SECRET": ",".join(PD_WEBHOOK_SECRETS), "PAGERDUTY_EVENTS_URL": pagerduty.url,
        "PAGERDUTY_API_URL": pagerduty.url, "CA_BUNDLE": str(bundle), "ROLLBOT_LEASE_SECONDS": "3",
        "LOG_LEVEL": "WARNING",
    }  # fmt: skip


def _healthy_at(ctx: Context) -> datetime | None:
    last = state(ctx).last
    return last.at if last is not None and last.outcome == "successful" else None


def _trial(index: int, folder: Path, redis: Redis, env: dict[str, str]) -> Trial:
    """Fresh repository, namespace and worker; health turns bad `index / TRIALS` of an interval after a healthy poll."""
    namespace = env["ROLLBOT_NAMESPACE"]
    ctx = Context(redis, Keys(namespace), Settings(rollbot_namespace=namespace, redis_url=REDIS_URL), Redactor([]))
    repo = make_repo(folder / "service")
    health = HealthEndpoint().start()
    worker = None
    try:
        path = health_runbook(env, repo, health, interval=f"{INTERVAL:g}s")
        checkpoint_then_bad_release(ctx, path, repo)
        worker = start_worker(env)
        healthy: datetime = wait_for(lambda: _healthy_at(ctx), 30, "a healthy measurement")
        turn = healthy + timedelta(seconds=INTERVAL * index / TRIALS)
        time.sleep(max(0.0, (turn - datetime.now(UTC)).total_seconds()))
        bad_at = datetime.now(UTC)
        health.set(BAD)
        run = wait_for(lambda: [r for r in automated_runs(ctx) if r.started_at], 30, "the automated rollback")[0]
        wait_for(lambda: not ctx.runs.get(run.run_id).is_active, 60, "the rollback to end")
        alert = ctx.alerts.get(run.alert_id or "")
        assert run.started_at is not None and alert is not None
        return Trial((run.started_at - bad_at).total_seconds(), (alert.first_seen - bad_at).total_seconds(),
                     (run.created_at - bad_at).total_seconds())  # fmt: skip
    finally:
        if worker is not None:
            stop_worker(worker)
        health.stop()
        _clean(redis, namespace)


def _noop(queue: Queue, redis: Redis, job_id: str) -> float:
    """Seconds from `enqueue_in(1s)` of a no-op job to a bare RQ worker starting it."""
    enqueued = datetime.now(UTC)
    queue.enqueue_in(timedelta(seconds=INTERVAL), "os.getpid", job_id=job_id, result_ttl=60)

    def started() -> datetime | None:
        at: datetime | None = Job.fetch(job_id, connection=redis).started_at
        return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at

    started_at: datetime = wait_for(started, 30, "the no-op job to start")
    return (started_at - enqueued).total_seconds()


def run() -> list[Row]:
    """Run the trials, with a few baseline no-op jobs after each, and return the row."""
    redis = Redis.from_url(REDIS_URL)
    ca = trustme.CA()
    slack = SlackStandIn().start()
    pagerduty = PagerDutyStandIn(ca).start()
    baseline_ns = f"bench{uuid.uuid4().hex[:8]}"
    queue = Queue(f"{baseline_ns}-noop", connection=redis)
    bare = subprocess.Popen(
        [RQ, "worker", "--with-scheduler", "--url", REDIS_URL, "--name", f"{baseline_ns}-worker", queue.name],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    trials: list[Trial] = []
    noops: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(bundle))
            _noop(queue, redis, f"{baseline_ns}-warmup")  # the bare worker and its scheduler are up
            for index in range(TRIALS):
                folder = Path(tmp) / f"trial{index}"
                folder.mkdir()
                env = _env(f"bench{uuid.uuid4().hex[:8]}", folder / "runbook.yaml", slack, pagerduty, bundle)
                trials.append(_trial(index, folder, redis, env))
                noops += [_noop(queue, redis, f"{baseline_ns}-{index}-{n}") for n in range(NOOP_PER_TRIAL)]
    finally:
        stop_worker(bare)
        slack.stop()
        pagerduty.stop()
        _clean(redis, baseline_ns)
    latencies = [t.latency for t in trials]
    median, worst = statistics.median(latencies), max(latencies)
    ratio = median / INTERVAL
    polled = statistics.median(t.polled for t in trials)
    queued = statistics.median(t.queued - t.polled for t in trials) * 1000
    started = statistics.median(t.latency - t.queued for t in trials) * 1000
    return [
        Row("detection latency at `interval: 1s`", "health endpoint turning bad → automated rollback run started, "
            "over the poll interval", ratio, f"median ≤ {TARGET:g}× the interval", ratio <= TARGET,
            f"median {median:.2f} s, max {worst:.2f} s ({worst / INTERVAL:.2f}×) over {TRIALS} trials, turning bad "
            f"0–{(TRIALS - 1) / TRIALS:.0%} of an interval after a healthy poll; medians: bad → failing poll "
            f"{polled:.2f} s, poll → run queued {queued:.0f} ms, queued → started {started:.0f} ms; baseline: a "
            f"no-op job `enqueue_in(1s)` on a bare RQ worker starts after median {statistics.median(noops):.2f} s, "
            f"max {max(noops):.2f} s ({len(noops)} jobs)"),
    ]  # fmt: skip


if __name__ == "__main__":
    print_rows(run())
