"""Shared fixtures: a unique Redis namespace per test, real git repositories, real RQ workers.
The shared Redis is the one at REDIS_URL, or an embedded one (tests/support/shared_redis.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from redis import Redis

from jobs import factory
from jobs.context import Context
from jobs.core.redis_values import text
from jobs.core.settings import Settings, get_settings
from tests.standins.health import HealthEndpoint
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import SIGNING_SECRET
from tests.standins.slack import SlackStandIn
from tests.support.shared_redis import shared_redis_url

# CI's Redis when it answers, else an embedded one for this session (os.environ["REDIS_URL"] names it,
# so every process a test starts uses it too); decided here, before any test reads REDIS_URL.
REDIS_URL = shared_redis_url()
ROLLBOT = str(Path(sys.executable).with_name("rollbot"))
TEST_BOT_TOKEN = "xoxb-test-0000-token"
GIT_ID = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def _clear_caches() -> None:
    caches = (get_settings, factory.get_redis, factory.get_keys, factory.get_context, factory.get_web_context,
              factory.get_slack_client)  # fmt: skip
    for cached in caches:
        cached.cache_clear()


@pytest.fixture(scope="session")
def slack_standin() -> Iterator[SlackStandIn]:
    standin = SlackStandIn().start()
    yield standin
    standin.stop()


PD_ROUTING_KEY = "R0UTINGKEY0000000000000000000000"
PD_API_TOKEN = "pd-api-token-0000"
PD_FROM = "rollbot@example.com"
PD_WEBHOOK_SECRETS = ("whsec-old-0000", "whsec-new-1111")


@pytest.fixture(scope="session")
def pagerduty_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    bundle = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return ca, bundle


@pytest.fixture(scope="session")
def pagerduty_standin(pagerduty_ca: tuple[trustme.CA, Path]) -> Iterator[PagerDutyStandIn]:
    standin = PagerDutyStandIn(pagerduty_ca[0]).start()
    yield standin
    standin.stop()


@pytest.fixture
def pagerduty(pagerduty_standin: PagerDutyStandIn) -> PagerDutyStandIn:
    """The HTTPS PagerDuty stand-in, with nothing recorded yet."""
    pagerduty_standin.reset()
    return pagerduty_standin


@pytest.fixture
def health() -> Iterator[HealthEndpoint]:
    """A golden-path health endpoint answering 0.99 until the test says otherwise."""
    endpoint = HealthEndpoint().start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def slack(slack_standin: SlackStandIn) -> SlackStandIn:
    """The Slack Web API stand-in, with nothing recorded yet."""
    slack_standin.reset()
    return slack_standin


@pytest.fixture
def redis_client() -> Iterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def env(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_client: Redis,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    pagerduty_ca: tuple[trustme.CA, Path],
) -> Iterator[dict[str, str]]:
    """A unique ROLLBOT_NAMESPACE (and every key under it, and RQ's for it, removed afterwards);
    Slack and PagerDuty are the stand-ins.
    """
    namespace = f"t{uuid.uuid4().hex[:12]}"
    values = {
        "ROLLBOT_NAMESPACE": namespace,
        "REDIS_URL": REDIS_URL,
        "SLACK_BOT_TOKEN": TEST_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        "PAGERDUTY_ROUTING_KEY": PD_ROUTING_KEY,
        "PAGERDUTY_API_TOKEN": PD_API_TOKEN,
        "PAGERDUTY_FROM_EMAIL": PD_FROM,
        "PAGERDUTY_WEBHOOK_SECRET": ",".join(PD_WEBHOOK_SECRETS),
        "PAGERDUTY_EVENTS_URL": pagerduty.url,
        "PAGERDUTY_API_URL": pagerduty.url,
        "CA_BUNDLE": str(pagerduty_ca[1]),
        "RUNBOOK": str(tmp_path / "runbook.yaml"),
        "ROLLBOT_LEASE_SECONDS": "3",
        "ROLLBOT_STATE_DIR": str(tmp_path / "state"),
        "LOG_LEVEL": "INFO",
    }
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    _clear_caches()
    yield values
    _clear_caches()
    run_ids = [text(i) for i in redis_client.zrange(f"{namespace}:runs", 0, -1)]
    patterns = [f"{namespace}:*", f"rq:*{namespace}*", *(f"rq:*{run_id}*" for run_id in run_ids)]
    for pattern in patterns:
        keys = list(redis_client.scan_iter(match=pattern, count=1000))
        if keys:
            redis_client.delete(*keys)
    for registry in (b"rq:workers", b"rq:queues"):
        for member in redis_client.smembers(registry):
            if namespace.encode() in member:
                redis_client.srem(registry, member)


@pytest.fixture
def ctx(env: dict[str, str]) -> Context:
    """A context built for the test's settings (its namespace, the stand-ins)."""
    return factory.build_context(Settings())


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path: Path) -> Path:
    """A real git repository at `path` on `main` with one good commit."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "app.txt").write_text("good\n")
    git(path, "add", "app.txt")
    git(path, "commit", "-q", "-m", "good release")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository on `main` with one good commit."""
    return make_repo(tmp_path / "service")


def commit(repo: Path, message: str, content: str | None = None) -> str:
    """Commit a change to app.txt on the current branch; returns the new HEAD."""
    (repo / "app.txt").write_text(content or f"{message}\n")
    git(repo, "commit", "-q", "-am", message)
    return git(repo, "rev-parse", "HEAD")


ONCALL, LEAD, STRANGER = "U0ONCALL", "U0LEAD", "U0STRANGER"
CHECKLIST = f"""\
recovery_checklist:
  - name: "User Authentication: Login flow working end-to-end"
  - name: "Tool Dispatcher: All factory patterns working"
    run: [{sys.executable}, -c, "print('factory ok')"]
"""
DEFAULT_ACCESS = """\
access:
  roles:
    operator: {users: [U0ONCALL, U0LEAD]}
    approver: {users: [U0LEAD]}
  default: operator
  actions: {approve: approver}
"""
RUNBOOK_HEAD = """\
version: 1
service: {service}
repo: {repo}
alert_channel: "#critical-alerts"
vars: {{project: sandbox}}
contacts:
  technical: ["Primary: Lead Engineer (on-call rotation)", "Secondary: Platform Team Lead", "Tertiary: CTO"]
  business: ["Primary: Product Manager", "Secondary: VP Engineering"]
  executive: ["Critical: CEO (for customer-facing outages >30 minutes)"]
  customer: ["Status Page: status.example.com"]
{access}phases:
  phase1:
    title: Foundation Analysis
    risk: minimal
    analysis_only: true
    stop_criteria: [Major architectural incompatibility discovered]
"""

PHASE2 = """\
  phase2:
    title: Factory Pattern Consolidation
    risk: medium
    checkpoint: pre-factory-consolidation
    preflight:
      - uses: git.checkpoint
        branch: factory-consolidation
      - name: Mission critical tests
        run: [{python}, -c, "print('tests pass')"]
    levels:
      immediate:
        budget: {budget}
        steps:
          - uses: git.reset_to_checkpoint
{steps}
    validation:
      - name: imports work
        run: [{python}, -c, "print('ok')"]
"""


PHASE3 = """\
  phase3:
    title: Implementation Consolidation
    risk: high
    checkpoint: pre-implementation-consolidation
    preflight:
      - uses: git.checkpoint
    levels:
      level1:
        budget: 15m
        steps:
          - uses: git.reset_to_checkpoint
          - name: Emergency staging deployment
            run: [sh, -c, "echo deploy failed >&2; exit 1"]
      level2:
        budget: 30m
        steps:
          - name: Restart all services
            run: [echo, restarted]
      level3:
        budget: 60m
        approvals: 2
        steps:
          - name: Rebuild all infrastructure
            run: [echo, rebuilt]
"""


def write_runbook(
    path: Path,
    repo: Path,
    steps: str = "",
    budget: str = "30m",
    service: str = "sandbox",
    phase3: bool = False,
    extra: str = "",
    access: str = DEFAULT_ACCESS,
) -> Path:
    """A runbook with phase2 as in the manual (checkpoint, reset) plus extra level `steps` (YAML),
    roles for ONCALL (operator) and LEAD (operator, approver), optionally a failing phase3, and
    `extra` top-level sections (YAML: `health:`, `alerts:`); `access` replaces the roles.
    """
    text = (
        RUNBOOK_HEAD.format(service=service, repo=repo, access=textwrap.dedent(access))
        + PHASE2.format(python=sys.executable, budget=budget, steps=textwrap.indent(textwrap.dedent(steps), " " * 10))
        + (PHASE3 if phase3 else "")
        + textwrap.dedent(extra)
    )
    path.write_text(text)
    return path


def run_worker(env: dict[str, str], *args: str, timeout: float = 90, **extra: str) -> subprocess.CompletedProcess[str]:
    """`rollbot worker --burst [args]` in its own process, as in production; returns its output."""
    return subprocess.run(
        [ROLLBOT, "worker", "--burst", *args], env={**os.environ, **env, **extra}, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def start_worker(env: dict[str, str], *args: str, **extra: str) -> subprocess.Popen[str]:
    """A `rollbot worker` running in the background, in its own session (stop it with `stop_worker`)."""
    return subprocess.Popen(
        [ROLLBOT, "worker", *args], env={**os.environ, **env, **extra}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip


def stop_worker(proc: subprocess.Popen[str]) -> None:
    """Warm shutdown, then SIGKILL whatever is left of its session (RQ's scheduler process too)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_for(condition: Callable[[], Any], timeout: float = 30, message: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` (catches hangs only)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_web(env: dict[str, str], **extra: str) -> tuple[subprocess.Popen[str], str]:
    """`rollbot web` on a loopback port with `env`; returns it once /healthz answers (200 or 503).
    Its log goes to a file, never a pipe nobody reads (a full pipe would stall the app's threads).
    """
    port = free_port()
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - owned by the process, closed with it
    proc = subprocess.Popen(
        [ROLLBOT, "web", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env={**os.environ, **env, **extra}, stdout=subprocess.DEVNULL, stderr=log, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            if proc.poll() is not None:
                log.seek(0)
                raise AssertionError(f"rollbot web exited: {log.read()}") from None
            return False

    wait_for(up, timeout=30, message="rollbot web to answer /healthz")
    return proc, base


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def web(env: dict[str, str]) -> Iterator[str]:
    """`rollbot web` serving the test's namespace on a loopback port; yields its base URL."""
    proc, base = start_web(env)
    yield base
    stop(proc)
