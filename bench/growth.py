"""Cost as work grows: months of history in Redis, and many services in one runbook folder.

**history**: two `rollbot web` servers (1 process × 16 threads each) side by side, one on an empty
namespace, one on a namespace seeded with 10,000 past runs (20 step records and 10 log lines each:
200,000 step records) and 1,000,000 audit entries spread over the last 89 days (within
`ROLLBOT_RETENTION`, so nothing is trimmed), written with pipelines and a Lua script. Both then
record a checkpoint and execute one rollback (the incident) through a real worker. Each client
sends to both servers in turn (the same load on both): the ack p99 of `/rollback history`,
`/rollback status` and the plan `/rollback phase2` at 10 concurrent clients, and the time of
`rollbot report <run>` (the CLI, as a person runs it; the report built in-process is shown
beside it). Redis memory per run and per audit entry is read with `MEMORY USAGE`. The seeded
namespace is deleted afterwards.

**services**: the same, a folder of 50 runbooks (the plan `/rollback svc50 phase2`, the last
service in file order) against a folder with one (`/rollback phase2`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import trustme
from redis import Redis
from redis.typing import EncodableT, FieldT

from bench.click_latency import clean
from bench.common import Row, print_rows
from bench.detect import _env
from jobs.context import Context
from jobs.core.keys import Keys
from jobs.core.redaction import Redactor
from jobs.core.settings import Settings
from jobs.records.runs import RunRecord, StepRecord, record_fields
from jobs.report.render import build_report
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import enqueue_run
from jobs.runs.plan import select, with_checkpoint
from tests.conftest import ONCALL, REDIS_URL, ROLLBOT, commit, make_repo, run_worker, start_web, stop, write_runbook
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import command_body, signed_post
from tests.standins.slack import SlackStandIn

RUNS = 10_000
STEPS_PER_RUN = 20
LOG_LINES = 10
AUDIT_ENTRIES = 1_000_000
SERVICES = 50
CLIENTS = 10
REQUESTS_PER_CLIENT = 20
ROUNDS = 5
REPORTS = 4  # CLI reports per side and round
TARGET = 1.2
SEED_PREFIX = "rb-seed-"
GROWTH_NOTES: list[str] = []  # "How cost grows" in docs/benchmarks.md

_SEED_AUDIT = """
local start, span, first, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local total = tonumber(ARGV[5])
for i = first, first + n - 1 do
  local ms = start + math.floor(i * span / total)
  local run = 'rb-seed-' .. (i % 10000)
  redis.call('XADD', KEYS[1], ms .. '-' .. i, 'actor', 'U0ONCALL', 'action', 'rollback.step', 'result', 'succeeded',
             'run_id', run, 'args', '{"level": "immediate", "phase": "phase2", "step": "Reset to checkpoint"}',
             'time', string.format('%.3f', ms / 1000))
end
return n
"""


def enqueue_rollback(ctx: Context, runbook_path: Path) -> str:
    """phase2's rollback to its recorded checkpoint, queued for a worker; returns the run id."""
    runbook = load_runbook(runbook_path)
    plan = with_checkpoint(select(runbook, "rollback", "phase2"), ctx.checkpoints.get(runbook.service, "phase2"))
    return enqueue_run(ctx, plan, ONCALL).run_id


@dataclass
class Side:
    """One server and what was measured through it."""

    env: dict[str, str]
    base: str = ""
    run_id: str = ""
    acks: dict[str, list[float]] | None = None
    rounds: dict[str, list[list[float]]] | None = None  # the same, round by round
    reports: list[float] | None = None
    built: list[float] | None = None


def seed_history(redis: Redis, keys: Keys, now: datetime) -> None:
    """10,000 ended runs (20 steps, 10 log lines each) and 1,000,000 audit entries, in the last 89 days."""
    start = now - timedelta(days=89)
    span = timedelta(days=89) - timedelta(minutes=5)
    steps = [
        StepRecord(index=i, title=f"Step {i}", command="systemctl restart app", status="succeeded", exit_code=0,
                   started_at=start, duration=0.4, output_tail="restarted\n")
        for i in range(STEPS_PER_RUN)
    ]  # fmt: skip
    template = RunRecord(
        run_id="x", kind="rollback", service="sandbox", phase="phase2", level="immediate", actor=ONCALL,
        status="succeeded", created_at=start, started_at=start, ended_at=start, budget=1800, elapsed=8.0, steps=steps,
        checkpoint_tag="pre-factory-consolidation-20260101", checkpoint_commit="0" * 40, head_before="1" * 40,
        head_after="0" * 40, host="bench",
    )  # fmt: skip
    step_fields = {k: v for k, v in record_fields(template).items() if k != "record"}
    lines = [f"line {n}: restarted app worker {n}" for n in range(LOG_LINES)]
    for chunk in range(0, RUNS, 500):
        with redis.pipeline(transaction=False) as pipe:
            for i in range(chunk, min(RUNS, chunk + 500)):
                created = start + span * (i / RUNS)
                run_id = f"{SEED_PREFIX}{i}"
                ended = created + timedelta(seconds=8)
                times = {"created_at": created, "started_at": created, "ended_at": ended}
                record = template.model_copy(update={"run_id": run_id, "steps": [], **times})
                fields: dict[FieldT, EncodableT] = {"record": record.model_dump_json(exclude={"steps"})}
                fields.update(step_fields)
                pipe.hset(keys.run(run_id), mapping=fields)
                pipe.rpush(keys.run_log(run_id), *lines)
                pipe.zadd(keys.runs, {run_id: created.timestamp()})
            pipe.execute()
    script = redis.register_script(_SEED_AUDIT)
    batch = 20_000
    for first in range(0, AUDIT_ENTRIES, batch):
        script(keys=[keys.audit], args=[int(start.timestamp() * 1000), int(span.total_seconds() * 1000), first,
                                        min(batch, AUDIT_ENTRIES - first), AUDIT_ENTRIES])  # fmt: skip


def delete_namespace(redis: Redis, namespace: str) -> None:
    """Every key of the namespace (UNLINK in batches), then RQ's keys of its real (not seeded) runs."""
    with redis.pipeline(transaction=False) as pipe:
        for key in redis.scan_iter(match=f"{namespace}:run:{SEED_PREFIX}*", count=5000):
            pipe.unlink(key)
        pipe.execute()
    redis.zremrangebylex(Keys(namespace).runs, f"[{SEED_PREFIX}", f"[{SEED_PREFIX}\xff")
    clean(redis, namespace)


def memory_per_run(redis: Redis, keys: Keys) -> tuple[float, float]:
    """Bytes per seeded run (record with its steps, log, index entry) and per audit entry."""
    sample = [f"{SEED_PREFIX}{i}" for i in range(0, RUNS, RUNS // 50)]
    per_run = statistics.mean((redis.memory_usage(keys.run(r)) or 0) + (redis.memory_usage(keys.run_log(r)) or 0)
                              for r in sample)  # fmt: skip
    per_run += (redis.memory_usage(keys.runs) or 0) / RUNS
    per_audit = (redis.memory_usage(keys.audit, samples=0) or 0) / AUDIT_ENTRIES
    return per_run, per_audit


def _load(targets: dict[str, tuple[str, str]]) -> dict[str, list[float]]:
    """Latencies (seconds) per side: each of `CLIENTS` clients sends one request to each side's
    server in turn (the order swapped every time), so both sides meet the same load on the machine.
    `targets`: side → (base URL, command text).
    """
    bodies = {side: command_body("/rollback", text, ONCALL, "http://127.0.0.1:9/response")  # never called
              for side, (_, text) in targets.items()}  # fmt: skip

    def client(index: int) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {side: [] for side in targets}
        order = list(targets) if index % 2 else list(reversed(targets))
        with httpx.Client() as http:
            for _ in range(REQUESTS_PER_CLIENT):
                for side in order:
                    started = time.perf_counter()
                    response = signed_post(f"{targets[side][0]}/slack/events", bodies[side], client=http)
                    times[side].append(time.perf_counter() - started)
                    if response.status_code != 200:
                        raise RuntimeError(f"{targets[side][0]} answered {response.status_code}")
                order.reverse()
        return times

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(client, range(CLIENTS)))
    return {side: [t for result in results for t in result[side]] for side in targets}


def p99(values: list[float]) -> float:
    """The 99th percentile."""
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def p99_ratio(side: Side, baseline: Side, name: str) -> float:
    """The median over the rounds of each round's p99 ratio: a hiccup of this shared machine during
    one round (other processes) moves one round's ratio, not the figure.
    """
    assert side.rounds is not None and baseline.rounds is not None
    pairs = zip(side.rounds[name], baseline.rounds[name], strict=True)
    return statistics.median(p99(mine) / p99(theirs) for mine, theirs in pairs)


def _report(side: Side) -> None:
    started = time.perf_counter()
    subprocess.run([ROLLBOT, "report", side.run_id], env={**os.environ, **side.env}, check=True, capture_output=True)
    assert side.reports is not None
    side.reports.append(time.perf_counter() - started)


def _built(side: Side, redis: Redis) -> None:
    namespace = side.env["ROLLBOT_NAMESPACE"]
    settings = Settings(rollbot_namespace=namespace, redis_url=REDIS_URL, runbook=Path(side.env["RUNBOOK"]))
    ctx = Context(redis, Keys(namespace), settings, Redactor([]))
    runbook = load_runbook(Path(side.env["RUNBOOK"]))
    started = time.perf_counter()
    build_report(ctx, side.run_id, runbook)
    assert side.built is not None
    side.built.append(time.perf_counter() - started)


def _incident(side: Side, redis: Redis, repo: Path, runbook: Path) -> None:
    """A checkpoint, a bad commit, a rollback executed by a real worker: the incident to report on."""
    namespace = side.env["ROLLBOT_NAMESPACE"]
    ctx = Context(redis, Keys(namespace), Settings(rollbot_namespace=namespace, redis_url=REDIS_URL), Redactor([]))
    subprocess.run([ROLLBOT, "preflight", "phase2", "--yes"], env={**os.environ, **side.env}, check=True,
                   capture_output=True)  # fmt: skip
    commit(repo, "bad release")
    side.run_id = enqueue_rollback(ctx, runbook)
    run_worker(side.env)
    assert ctx.runs.get(side.run_id).status == "succeeded"


@contextmanager
def _standins() -> Iterator[tuple[SlackStandIn, PagerDutyStandIn, Path]]:
    ca = trustme.CA()
    slack = SlackStandIn().start()
    pagerduty = PagerDutyStandIn(ca).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(bundle))
            yield slack, pagerduty, bundle
    finally:
        slack.stop()
        pagerduty.stop()


def _measure(sides: dict[str, Side], commands: dict[str, str], redis: Redis, reports: bool) -> None:
    """Both sides under the same load, round by round, command by command (after a warm-up)."""
    procs = []
    try:
        for side in sides.values():
            proc, side.base = start_web(side.env)
            procs.append(proc)
            side.acks, side.reports, side.built = {name: [] for name in commands}, [], []
            side.rounds = {name: [] for name in commands}
        for rounds in (1, ROUNDS):  # the first: warm-up (threads, pools, runbook cache)
            for _ in range(rounds):
                for name, text in commands.items():
                    found = _load({key: (side.base, text.format(**side.env)) for key, side in sides.items()})
                    for key, side in sides.items():
                        assert side.acks is not None and side.rounds is not None
                        if rounds > 1:
                            side.acks[name] += found[key]
                            side.rounds[name].append(found[key])
            if reports and rounds > 1:
                for _ in range(REPORTS):
                    for side in sides.values():
                        _report(side)
                        _built(side, redis)
    finally:
        for proc in procs:
            stop(proc)


def history_rows() -> list[Row]:
    """The history row (and Redis memory per run)."""
    redis = Redis.from_url(REDIS_URL)
    empty_ns, full_ns = f"bench{uuid.uuid4().hex[:8]}", f"bench{uuid.uuid4().hex[:8]}"
    try:
        with _standins() as (slack, pagerduty, bundle), tempfile.TemporaryDirectory() as tmp:
            sides = {}
            seeded = time.perf_counter()
            seed_history(redis, Keys(full_ns), datetime.now(UTC))
            seeded = time.perf_counter() - seeded
            per_run, per_audit = memory_per_run(redis, Keys(full_ns))
            for name, namespace in (("empty", empty_ns), ("full", full_ns)):
                folder = Path(tmp) / name
                folder.mkdir()
                repo = make_repo(folder / "service")
                runbook = write_runbook(folder / "runbook.yaml", repo)
                sides[name] = Side(_env(namespace, runbook, slack, pagerduty, bundle))
                _incident(sides[name], redis, repo, runbook)
            commands = {"history": "history", "status": "status", "plan": "phase2"}
            _measure(sides, commands, redis, reports=True)
    finally:
        delete_namespace(redis, full_ns)
        delete_namespace(redis, empty_ns)
    empty, full = sides["empty"], sides["full"]
    assert empty.acks and full.acks and empty.reports and full.reports and empty.built and full.built
    ratios = {name: p99_ratio(full, empty, name) for name in commands}
    report_ratio = statistics.median(full.reports) / statistics.median(empty.reports)
    built_ratio = statistics.median(full.built) / statistics.median(empty.built)
    worst = max([*ratios.values(), report_ratio])
    GROWTH_NOTES.append(
        f"**History.** A run costs about {per_run / 1024:.1f} KiB of Redis ({STEPS_PER_RUN} step records and "
        f"{LOG_LINES} log lines; a step record is a hash field, a log line a list item, both capped per run) and an "
        f"audit entry about {per_audit:.0f} B: 10,000 runs and 1,000,000 entries are some "
        f"{(per_run * RUNS + per_audit * AUDIT_ENTRIES) / 2**20:.0f} MiB. No command reads history in proportion to "
        "its size: `/rollback history` reads the newest 10 runs (one field each, steps only for runs still active), "
        "`/rollback status` the set of active runs, a plan one checkpoint key, and a report its incident's runs and "
        "the audit entries of its own time window (a range of the stream by id). `ROLLBOT_RETENTION` (90 days) "
        "bounds what is kept: after every run a worker deletes a batch of runs older than it (record, log, marks) "
        "and trims the audit stream by age, so no key grows without bound."
    )
    acks = "; ".join(f"{name} p99 {p99(full.acks[name]) * 1000:.1f} vs {p99(empty.acks[name]) * 1000:.1f} ms "
                     f"({ratios[name]:.2f}×; p50 {statistics.median(full.acks[name]) * 1000:.1f} vs "
                     f"{statistics.median(empty.acks[name]) * 1000:.1f})" for name in commands)  # fmt: skip
    return [
        Row("history: 10,000 runs, 200,000 step records, 1,000,000 audit entries", "ack p99 of `/rollback history`, "
            "`/rollback status`, the plan `/rollback phase2`, and the time of `rollbot report` for an incident: "
            "seeded namespace vs an empty one, both servers under the same load (the worst ratio; p99 ratios are "
            f"medians of {ROUNDS} rounds' ratios)", worst,
            f"each ≤ {TARGET}×", worst <= TARGET,
            f"{acks}; `rollbot report` median {statistics.median(full.reports) * 1000:.0f} vs "
            f"{statistics.median(empty.reports) * 1000:.0f} ms ({report_ratio:.2f}×; built in-process "
            f"{statistics.median(full.built) * 1000:.1f} vs {statistics.median(empty.built) * 1000:.1f} ms, "
            f"{built_ratio:.2f}×); {CLIENTS} clients, {ROUNDS * CLIENTS * REQUESTS_PER_CLIENT} requests per command "
            f"and side; Redis memory {per_run / 1024:.1f} KiB per run ({STEPS_PER_RUN} steps, {LOG_LINES} log "
            f"lines) and {per_audit:.0f} B per audit entry; seeded in {seeded:.1f} s"),
    ]  # fmt: skip


def services_rows() -> list[Row]:
    """The services row: a folder of 50 runbooks vs a folder of one."""
    redis = Redis.from_url(REDIS_URL)
    namespaces = {"one": f"bench{uuid.uuid4().hex[:8]}", "fifty": f"bench{uuid.uuid4().hex[:8]}"}
    try:
        with _standins() as (slack, pagerduty, bundle), tempfile.TemporaryDirectory() as tmp:
            sides = {}
            for name, namespace in namespaces.items():
                folder = Path(tmp) / name
                books = folder / "runbooks"
                books.mkdir(parents=True)
                repo = make_repo(folder / "service")
                count = SERVICES if name == "fifty" else 1
                for n in range(1, count + 1):
                    write_runbook(books / f"svc{n:02d}.yaml", repo, service=f"svc{n:02d}")
                sides[name] = Side(_env(namespace, books, slack, pagerduty, bundle))
                sides[name].env["PLAN"] = f"svc{count:02d} phase2" if count > 1 else "phase2"
                preflight = [ROLLBOT, "preflight", "phase2", "--yes", "--service", f"svc{count:02d}"]
                subprocess.run(preflight, env={**os.environ, **sides[name].env}, check=True, capture_output=True)
            _measure(sides, {"plan": "{PLAN}"}, redis, reports=False)
    finally:
        for namespace in namespaces.values():
            clean(redis, namespace)
    one, fifty = sides["one"], sides["fifty"]
    assert one.acks and fifty.acks
    ratio = p99_ratio(fifty, one, "plan")
    GROWTH_NOTES.append(
        f"**Services.** A folder of {SERVICES} runbooks is parsed once and re-read only when a file changes; per "
        "command rollbot lists the folder and compares file times (well under a millisecond for 50 files), then "
        f"works on the one runbook named: a plan's ack p99 with {SERVICES} is {ratio:.2f}× that with one."
    )
    return [
        Row(f"services: a folder of {SERVICES} runbooks", "ack p99 of a plan (`/rollback svc50 phase2`) vs the "
            "same with a folder of one runbook (`/rollback phase2`), both servers under the same load (median of "
            f"{ROUNDS} rounds' p99 ratios)", ratio, f"p99 ≤ {TARGET}×",
            ratio <= TARGET, f"50 runbooks p99 {p99(fifty.acks['plan']) * 1000:.1f} ms (p50 "
            f"{statistics.median(fifty.acks['plan']) * 1000:.1f}) vs one p99 {p99(one.acks['plan']) * 1000:.1f} ms "
            f"(p50 {statistics.median(one.acks['plan']) * 1000:.1f}); {CLIENTS} clients, "
            f"{ROUNDS * CLIENTS * REQUESTS_PER_CLIENT} requests each"),
    ]  # fmt: skip


def run() -> list[Row]:
    """Both growth rows."""
    return history_rows() + services_rows()


if __name__ == "__main__":
    import sys

    print_rows({"history": history_rows, "services": services_rows}.get(sys.argv[-1], run)())
