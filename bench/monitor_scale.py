"""Monitor cost as sources grow: 1, 10 and 50 health sources at `interval: 1s` on one `rollbot worker`.

For each count, a fresh namespace and a runbook with that many health sources (`dry_run: true`:
a breach posts its card and never rolls back or pages): one source watches its own endpoint, the
others a shared endpoint that stays healthy. One `rollbot worker` (all queues, RQ's scheduler on)
polls them: RQ forks a work horse per job, but a health poll runs in the worker's own process
(`jobs.worker.IN_PROCESS_TASKS`): a fork per poll cost more than the poll and, at 50 sources a
second, kept one worker busy all the time (detection then fell behind by seconds). After a
warm-up, the worker's CPU (its own, its work horses' and its scheduler's,
from /proc) is read over a steady window: CPU seconds per source per second. Then, in each trial,
the watched endpoint turns bad at a point spread over the interval after a healthy measurement,
and detection is the failing measurement's time minus that moment; the endpoint turns good again
and the next trial waits for a healthy measurement. Target: detection p99 (the worst of the
trials) ≤ 2 intervals at 50 sources.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import trustme
from redis import Redis

from bench.click_latency import clean
from bench.common import Row, print_rows
from bench.detect import _env
from jobs.alerts.monitor import MonitorState
from jobs.core.keys import Keys
from tests.conftest import REDIS_URL, make_repo, start_worker, stop_worker, wait_for, write_runbook
from tests.standins.health import HealthEndpoint
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.slack import SlackStandIn

COUNTS = (1, 10, 50)
INTERVAL = 1.0
TRIALS = 8
WARMUP_SECONDS = 6.0
CPU_WINDOW_SECONDS = 10.0
TARGET = 2.0  # detection p99 ≤ this many intervals at 50 sources
BAD = 0.5
_TICKS = os.sysconf("SC_CLK_TCK")
GROWTH_NOTES: list[str] = []  # "How cost grows" in docs/benchmarks.md


def _cpu_seconds(pid: int) -> float:
    """CPU of `pid` and its reaped children, plus that of its live descendants."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(v) for v in fields[11:15]) / _TICKS  # utime, stime, cutime, cstime
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _cpu_seconds(int(child))
    except (OSError, ValueError):
        pass
    return total


def _source(name: str, url: str) -> str:
    return f"""\
  {name}:
    url: {url}
    interval: {INTERVAL:g}s
    metrics:
      success_rate: {{alert_below: 0.95, rollback_below: 0.90}}
    failure_limit: 0
    dry_run: true
    on_breach: {{phase: phase2, level: immediate, mode: suggest}}
"""


def _state(redis: Redis, keys: Keys, source: str) -> MonitorState:
    raw = redis.get(keys.monitor("sandbox", source))
    return MonitorState.model_validate_json(raw) if raw else MonitorState()


def _measure(count: int, folder: Path, redis: Redis, env: dict[str, str]) -> tuple[list[float], float]:
    """Detection latencies (seconds) and CPU seconds per source per second with `count` sources."""
    keys = Keys(env["ROLLBOT_NAMESPACE"])
    repo = make_repo(folder / "service")
    watched, steady = HealthEndpoint().start(), HealthEndpoint().start()
    worker = None
    try:
        sources = _source("s00", watched.url) + "".join(_source(f"s{n:02d}", steady.url) for n in range(1, count))
        write_runbook(Path(env["RUNBOOK"]), repo, extra="health:\n" + sources)
        worker = start_worker(env)
        time.sleep(WARMUP_SECONDS)
        before = _cpu_seconds(worker.pid)
        time.sleep(CPU_WINDOW_SECONDS)
        cpu = (_cpu_seconds(worker.pid) - before) / CPU_WINDOW_SECONDS / count
        latencies = []
        for trial in range(TRIALS):

            def healthy_after(moment: datetime) -> datetime | None:
                last = _state(redis, keys, "s00").last
                return last.at if last and last.outcome == "successful" and last.at > moment else None

            healthy_at = wait_for(partial(healthy_after, datetime.now(UTC)), 30, "a healthy measurement")
            time.sleep(max(0.0, (healthy_at - datetime.now(UTC)).total_seconds() + INTERVAL * trial / TRIALS))
            bad_at = datetime.now(UTC)
            watched.set(BAD)

            def failed(since: datetime) -> datetime | None:
                last = _state(redis, keys, "s00").last
                return last.at if last and last.outcome == "failed" and last.at >= since else None

            detected = wait_for(partial(failed, bad_at), 30, "the failing measurement")
            latencies.append((detected - bad_at).total_seconds())
            watched.set(1.0)
        return latencies, cpu
    finally:
        if worker is not None:
            stop_worker(worker)
        watched.stop()
        steady.stop()


def run() -> list[Row]:
    """One row: detection at 50 sources, with 1 and 10 beside it, and the CPU per source."""
    redis = Redis.from_url(REDIS_URL)
    ca = trustme.CA()
    slack = SlackStandIn().start()
    pagerduty = PagerDutyStandIn(ca).start()
    found: dict[int, tuple[list[float], float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(bundle))
            for count in COUNTS:
                namespace = f"bench{uuid.uuid4().hex[:8]}"
                folder = Path(tmp) / f"n{count}"
                folder.mkdir()
                env = _env(namespace, folder / "runbook.yaml", slack, pagerduty, bundle)
                try:
                    found[count] = _measure(count, folder, redis, env)
                finally:
                    clean(redis, namespace)
    finally:
        slack.stop()
        pagerduty.stop()
    most = COUNTS[-1]
    worst = max(found[most][0]) / INTERVAL
    cpu_most = found[most][1]
    GROWTH_NOTES.append(
        f"**Monitor.** Each health source at `interval: 1s` costs the worker about {cpu_most * 1000:.1f} ms of CPU "
        f"per second ({most} sources: {cpu_most * most * 100:.0f}% of one core), and detection does not slow down "
        f"as sources are added (worst {max(found[most][0]):.2f} s at {most}, {max(found[COUNTS[0]][0]):.2f} s at "
        f"{COUNTS[0]}). Polls run in the worker's own process (`jobs.worker.IN_PROCESS_TASKS`); with a fork per poll, "
        "as RQ runs every other job, one worker was busy all the time at 50 sources and detection fell behind by "
        "seconds. Beyond what one core polls, give the `monitor` queue workers of its own (`rollbot worker --queues "
        "monitor`)."
    )
    details = "; ".join(
        f"{count} sources: detection median {statistics.median(lat):.2f} s, worst {max(lat):.2f} s, worker CPU "
        f"{cpu * 1000:.1f} ms per source per second" for count, (lat, cpu) in found.items()
    )  # fmt: skip
    return [
        Row(f"monitor: {', '.join(map(str, COUNTS))} health sources at `interval: 1s`", "health endpoint turning bad → "
            f"the failing measurement, worst of {TRIALS} trials (p99), over the interval, at {most} sources on one "
            "`rollbot worker` (polls in its own process)", worst, f"p99 ≤ {TARGET:g} intervals at {most}",
            worst <= TARGET, details),
    ]  # fmt: skip


if __name__ == "__main__":
    print_rows(run())
