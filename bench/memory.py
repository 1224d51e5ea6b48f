"""Memory: resident set of `rollbot web` and `rollbot worker` after warm-up, vs a bare Bolt app and a bare `rq worker`.

RSS is VmRSS from /proc/<pid>/status summed over every process of the server (each is started in
its own session: a gunicorn master and its workers; an RQ worker and its scheduler process), read
once the server is warm and idle. Pages a forked process shares with its parent count in each
(that is what RSS is); the proportional set size (PSS, /proc/<pid>/smaps_rollup), which splits
them, is given beside it.

- web: `rollbot web --workers 2` after 3 × 30 slash commands (plan, status, help) and a confirm
  click, vs a bare Bolt app whose /rollback listener only calls ack() served with the very options
  `rollbot web` gives gunicorn (2 × gthread, 16 threads), after the same commands. That bare server
  imports only gunicorn and Bolt: `python -m bench.servers bare` (bench/ack.py's) imports rollbot's
  own modules in its gunicorn master before forking, so its size is given too, not compared with.
- worker: `rollbot worker` (all queues, scheduler on) after running one rollback and its Slack
  deliveries, vs `rq worker --with-scheduler` after three no-op jobs.

Target: PSS ≤ 1.3× each (RSS beside it). Out of reach while rollbot needs the libraries it is
built on, and each row measures why: the bare server again, with only those libraries imported
(and not used), is the *floor*; what rollbot adds on top of it is given too. Numbers below: a
2-core x86_64 machine, Python 3.11, PSS summed over the processes, ±1.5 MiB from run to run.

- web floor, about 1.54×: the bare Bolt app (44 MiB) whose gunicorn master also imports redis-py
  and RQ (to enqueue: +12 MiB), pydantic and pydantic-settings (the settings, the runbook model:
  +12 MiB) and PyYAML (runbooks): 67 MiB. `rollbot web` is some 8 MiB above it: prometheus-client
  (/metrics, about 3 MiB: imported in the master, so a scrape never loads it in each worker) and
  rollbot's own modules (the listeners and the parts of jobs/ they use, about 5 to 7 MiB).
- worker floor, about 1.48×: `rq worker` (34 MiB) with pydantic, pydantic-settings and PyYAML
  (+10 MiB), slack_sdk (a rollback's run message and every card: +3 MiB) and httpx (health polls
  run in the worker's own process, health steps in its work horses: +5 MiB, of which about
  2.5 MiB are httpx's command line, rich and pygments, loaded because this development install
  has rich for import-linter; an install of rollbot alone does not have it) imported: 51 MiB.
  Without httpx (polls over urllib, which slack_sdk loads anyway) it would still be about 1.4×.
  `rollbot worker` is some 5 MiB above it: rollbot's own modules (`jobs.tasks` and what a
  rollback runs; the report, e-mail and Home modules are about 0.4 MiB of it) and the PagerDuty
  client (pages from the in-process health polls, a rollback's change events, about 1 MiB).

What keeps rollbot near its floors: `rollbot web`'s gunicorn master imports only what the
listeners use (they parse, authorize, ack and enqueue by task name: no executor, httpx, PagerDuty
client, report or e-mail code; tests/test_process_imports.py), then loads the runbooks and the
TLS trust and freezes the collector before it forks (`bot.server.load_before_fork`,
`share_with_forks`; loading them in each worker instead cost about 5 MiB more). `rollbot worker`
imports `jobs.tasks` (what a rollback's work horse runs: its first step must not wait for imports)
and freezes the collector before its scheduler and work horses fork; the report's chart
(matplotlib) is loaded only by the job that makes one.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trustme
from redis import Redis
from rq import Queue
from rq.job import Job

from bench.click_latency import clean, idle
from bench.common import Row, print_rows
from bench.detect import _env
from bot.server import gunicorn_options
from jobs.context import Context
from jobs.core.ids import ActionId
from jobs.core.keys import Keys
from jobs.core.redaction import Redactor
from jobs.core.settings import Settings
from tests.conftest import ONCALL, REDIS_URL, ROLLBOT, free_port, make_repo, stop_worker, wait_for, write_runbook
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import action_body, button_value, command_body, signed_post
from tests.standins.slack import SlackStandIn
from tests.support.monitor import checkpoint_then_bad_release

WEB_WORKERS = 2  # `rollbot web`'s default (WEB_CONCURRENCY)
COMMANDS = ("phase2", "status", "help")
EACH = 30  # requests per command, from 8 threads: both gunicorn workers serve some
NOOPS = 3
SETTLE = 1.0  # seconds of quiet before reading the sizes
TARGET = 1.3  # by PSS (what the processes cost on a host); RSS beside it
RQ = str(Path(sys.executable).with_name("rq"))
# What rollbot cannot do without in each process: imported (never used) by the bare servers once
# more, the floor each row gives beside the ratio.
WEB_FLOOR = ("redis", "rq", "pydantic", "pydantic_settings", "yaml")
WORKER_FLOOR = ("pydantic", "pydantic_settings", "yaml", "slack_sdk", "httpx")
BARE_SERVER = """\
import json, os, sys
from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

class Server(BaseApplication):
    def __init__(self, options):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
        app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

        @app.command("/rollback")
        def ack_only(ack):
            ack()

        return SlackRequestHandler(app)

Server(json.loads(sys.argv[1])).run()
"""


@dataclass(frozen=True)
class Size:
    """A server's processes and their summed sizes (MiB)."""

    processes: int
    rss: float
    pss: float


def _kib(path: str, field: str) -> int:
    with contextlib.suppress(OSError), open(path) as lines:
        for line in lines:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


def _size(session: int) -> Size:
    """Summed VmRSS and Pss of every live process in `session` (a process started with a new session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if stat[0] != "Z" and int(stat[3]) == session:  # state, …, session id
            pids.append(entry.name)
    rss = sum(_kib(f"/proc/{pid}/status", "VmRSS") for pid in pids)
    pss = sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids)
    return Size(len(pids), rss / 1024, pss / 1024)


def _gunicorn_options(port: int) -> dict[str, Any]:
    """The options `rollbot web --workers WEB_WORKERS` gives gunicorn (LOG_LEVEL=WARNING)."""
    return gunicorn_options("127.0.0.1", port, WEB_WORKERS, "WARNING")


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)  # fmt: skip


def _end(proc: subprocess.Popen[str]) -> None:
    """SIGTERM (gunicorn and RQ shut down warmly), then SIGKILL whatever is left of the session."""
    stop_worker(proc)


def _serving(proc: subprocess.Popen[str], base: str) -> None:
    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            httpx.post(f"{base}/slack/events", content=b"", timeout=1)
        except httpx.HTTPError:
            return False
        return _size(proc.pid).processes == 1 + WEB_WORKERS

    wait_for(answers, 30, f"{proc.args!r} to serve")


def _commands(base: str, slack: SlackStandIn) -> list[dict[str, Any]]:
    """EACH of every command in COMMANDS from 8 threads; returns the answers' JSON."""
    bodies = [command_body("/rollback", text, ONCALL, slack.response_url("warm")) for text in COMMANDS] * EACH

    def send(http: httpx.Client, body: str) -> dict[str, Any]:
        response = signed_post(f"{base}/slack/events", body, client=http)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json() if response.content else {}
        return answer

    with httpx.Client() as http, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda body: send(http, body), bodies))


def _rollbot(ctx: Context, env: dict[str, str], slack: SlackStandIn) -> tuple[Size, Size]:
    """`rollbot web` and `rollbot worker`, warmed up with the commands and one confirmed rollback."""
    port = free_port()
    web = _spawn([ROLLBOT, "web", "--host", "127.0.0.1", "--port", str(port), "--workers", str(WEB_WORKERS)], env)
    worker = _spawn([ROLLBOT, "worker"], env)
    try:
        base = f"http://127.0.0.1:{port}"
        _serving(web, base)
        answers = _commands(base, slack)
        plan = next(a for a in answers if "blocks" in a)
        value = button_value(plan["blocks"], ActionId.ROLLBACK_CONFIRM)
        response = signed_post(f"{base}/slack/events", action_body(ActionId.ROLLBACK_CONFIRM, value, ONCALL,
                                                                   slack.response_url("click")))  # fmt: skip
        assert response.status_code == 200, response.text
        run = wait_for(lambda: [r for r in ctx.runs.recent(5) if r.kind == "rollback"], 30, "the rollback")[0]
        wait_for(lambda: not ctx.runs.get(run.run_id).is_active, 60, "the rollback to end")
        assert ctx.runs.get(run.run_id).status == "succeeded"
        wait_for(lambda: idle(ctx.redis, ctx.keys.namespace), 30, "the worker to be idle")
        time.sleep(SETTLE)
        return _size(web.pid), _size(worker.pid)
    finally:
        _end(worker)
        _end(web)


def _bare_web(argv: list[str], env: dict[str, str], port: int, slack: SlackStandIn) -> Size:
    server = _spawn(argv, env)
    try:
        base = f"http://127.0.0.1:{port}"
        _serving(server, base)
        _commands(base, slack)
        time.sleep(SETTLE)
        return _size(server.pid)
    finally:
        _end(server)


def _finished(job: Job) -> bool:
    return job.get_status(refresh=True) == "finished"


def _bare_worker(redis: Redis, namespace: str, imports: tuple[str, ...] = ()) -> Size:
    """`rq worker` (RQ's own command) after NOOPS no-op jobs; with `imports`, the same command run
    by an interpreter that has imported those modules first.
    """
    queue = Queue(f"{namespace}-noop", connection=redis)
    rq = [sys.executable, "-c", f"import {', '.join(imports)}\nfrom rq.cli import main\nmain()"] if imports else [RQ]
    worker = _spawn([*rq, "worker", "--with-scheduler", "--url", REDIS_URL, "--name", f"{namespace}-worker",
                     queue.name], {})  # fmt: skip
    try:
        for n in range(NOOPS):
            job = queue.enqueue("jobs.core.durations.parse_duration", "1s", job_id=f"{namespace}-{n}", result_ttl=60)
            wait_for(partial(_finished, job), 30, "the no-op job to end")
        wait_for(lambda: _size(worker.pid).processes == 2, 30, "the worker and its scheduler")
        time.sleep(SETTLE)
        return _size(worker.pid)
    finally:
        _end(worker)


def _names(modules: tuple[str, ...]) -> str:
    return ", ".join(f"`{name}`" for name in modules)


def run() -> list[Row]:
    """Measure rollbot's web and worker, then the bare server (both kinds and with the floor's imports)
    and the bare RQ worker (on its own and with the floor's imports).
    """
    redis = Redis.from_url(REDIS_URL)
    ca = trustme.CA()
    slack = SlackStandIn().start()
    pagerduty = PagerDutyStandIn(ca).start()
    namespace, baseline_ns, floor_ns = (f"bench{uuid.uuid4().hex[:8]}" for _ in range(3))
    ctx = Context(redis, Keys(namespace), Settings(rollbot_namespace=namespace, redis_url=REDIS_URL), Redactor([]))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / "ca.pem"
            ca.cert_pem.write_to_path(str(bundle))
            repo = make_repo(Path(tmp) / "service")
            env = _env(namespace, write_runbook(Path(tmp) / "runbook.yaml", repo), slack, pagerduty, bundle)
            checkpoint_then_bad_release(ctx, Path(env["RUNBOOK"]), repo)
            web, worker = _rollbot(ctx, env, slack)
            port = free_port()
            options = json.dumps(_gunicorn_options(port))
            bare = _bare_web([sys.executable, "-c", BARE_SERVER, options], env, port, slack)
            port = free_port()
            options = json.dumps(_gunicorn_options(port))
            floor_server = f"import {', '.join(WEB_FLOOR)}\n{BARE_SERVER}"
            web_floor = _bare_web([sys.executable, "-c", floor_server, options], env, port, slack)
            port = free_port()
            servers = _bare_web([sys.executable, "-m", "bench.servers", "bare", str(port)],
                                {**env, "WEB_CONCURRENCY": str(WEB_WORKERS)}, port, slack)  # fmt: skip
            rq = _bare_worker(redis, baseline_ns)
            worker_floor = _bare_worker(redis, floor_ns, WORKER_FLOOR)
    finally:
        slack.stop()
        pagerduty.stop()
        clean(redis, namespace)
        clean(redis, baseline_ns)
        clean(redis, floor_ns)
    web_ratio, worker_ratio = web.pss / bare.pss, worker.pss / rq.pss
    return [
        Row("web memory (PSS)", f"`rollbot web` vs a bare Bolt app (ack only), same gunicorn options ({WEB_WORKERS} "
            "workers), after the same slash commands", web_ratio, f"PSS ≤ {TARGET:g}×", web_ratio <= TARGET,
            f"rollbot PSS {web.pss:.1f} MiB (RSS {web.rss:.1f}) vs bare PSS {bare.pss:.1f} MiB (RSS {bare.rss:.1f}), "
            f"RSS ratio {web.rss / bare.rss:.2f}×, {web.processes} processes each; floor: the bare app with "
            f"{_names(WEB_FLOOR)} imported in its master, unused, PSS {web_floor.pss:.1f} MiB "
            f"({web_floor.pss / bare.pss:.2f}×), rollbot − floor {web.pss - web_floor.pss:+.1f} MiB; "
            f"`bench.servers bare`, which imports rollbot before forking: PSS {servers.pss:.1f} MiB "
            f"(RSS {servers.rss:.1f})"),
        Row("worker memory (PSS)", "`rollbot worker` (all queues) after one rollback vs `rq worker` after no-op jobs, "
            "both with RQ's scheduler", worker_ratio, f"PSS ≤ {TARGET:g}×", worker_ratio <= TARGET,
            f"rollbot PSS {worker.pss:.1f} MiB (RSS {worker.rss:.1f}) vs bare PSS {rq.pss:.1f} MiB (RSS "
            f"{rq.rss:.1f}), RSS ratio {worker.rss / rq.rss:.2f}×, {worker.processes} and {rq.processes} processes "
            "(worker + scheduler, and rollbot's work horse standing by for the next job), idle; floor: "
            f"`rq worker` with {_names(WORKER_FLOOR)} imported, PSS "
            f"{worker_floor.pss:.1f} MiB ({worker_floor.pss / rq.pss:.2f}×), rollbot − floor "
            f"{worker.pss - worker_floor.pss:+.1f} MiB"),
    ]  # fmt: skip


if __name__ == "__main__":
    print_rows(run())
