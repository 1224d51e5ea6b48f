"""Scale check: two `rollbot web` and two `rollbot worker` processes sharing one Redis serve five
services (`RUNBOOK` names a folder of five runbooks). 100 slash commands are spread over both web
processes and 10 rollbacks run (two per service, each confirmed by double clicks on both webs):
every run runs once, and no two runs of one service ever overlap.

Each rollback's exclusive step proves the service lock from the inside: it creates a marker with
O_EXCL (a second run of the same service at the same time would find it and record a violation),
records its run id (a run executed twice would appear twice), and waits for a release file, so
that competitors arrive while every first-wave run is still queued or running: confirms of other
plans through Slack (refused when queued) and break-glass CLI runs, which skip the queue's check
and meet the service lock itself.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from jobs import factory
from jobs.context import Context
from jobs.core.ids import ActionId
from jobs.records.runs import RunRecord
from tests.conftest import (
    ONCALL,
    ROLLBOT,
    _clear_caches,
    commit,
    git,
    make_repo,
    start_web,
    start_worker,
    stop,
    stop_worker,
    wait_for,
    write_runbook,
)
from tests.standins.signed import action_body, button_value, command_body, signed_post
from tests.standins.slack import Call, SlackStandIn

SERVICES = [f"svc{i}" for i in range(1, 6)]
EXCLUSIVE_STEP = """\
import os, sys, time
service, run_id, marks = sys.argv[1:4]
marker = os.path.join(marks, service + ".running")
try:
    fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
except FileExistsError:
    with open(os.path.join(marks, "violations"), "a") as out:
        out.write(service + " " + run_id + "\\n")
    sys.exit(1)
with open(os.path.join(marks, "executed"), "a") as out:
    out.write(service + " " + run_id + "\\n")
deadline = time.monotonic() + 240
while not os.path.exists(os.path.join(marks, "release")) and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(0.2)
os.close(fd)
os.remove(marker)
"""


def five_services(tmp_path: Path) -> tuple[Path, dict[str, Path], Path]:
    """A folder of five runbooks (one per service, each with its own git repository) whose phase2
    rollback resets to the checkpoint and then runs the exclusive step. Returns (folder, repos, marks).
    """
    folder, marks = tmp_path / "runbooks", tmp_path / "marks"
    folder.mkdir()
    marks.mkdir()
    script = tmp_path / "exclusive.py"
    script.write_text(EXCLUSIVE_STEP)
    step = f"""\
        - name: Exclusive section
          run: [{sys.executable}, {script}, "{{service}}", "{{run_id}}", {marks}]
          timeout: 90s
        """
    repos = {}
    for service in SERVICES:
        repos[service] = make_repo(tmp_path / service)
        write_runbook(folder / f"{service}.yaml", repos[service], steps=step, service=service)
    return folder, repos, marks


def command(web: str, slack: SlackStandIn, name: str, text: str) -> dict[str, Any]:
    """One signed slash command; its HTTP answer (the ack's ephemeral message)."""
    response = signed_post(f"{web}/slack/events", command_body(name, text, ONCALL, slack.response_url()))
    assert response.status_code == 200, (name, text, response.status_code, response.text)
    answer: dict[str, Any] = response.json() if response.content else {}
    return answer


def confirm_everywhere(webs: list[str], slack: SlackStandIn, values: list[str]) -> list[str]:
    """Click *Roll back now* on each plan twice on each web process, all at once; returns what the
    clicks were answered (through their response_url), once every click has its answer.
    """
    names = [f"click-{uuid.uuid4().hex[:8]}" for _ in range(4 * len(values))]
    bodies = [action_body(ActionId.ROLLBACK_CONFIRM, value, ONCALL, slack.response_url(name))
              for value, name in zip(values * 4, names, strict=True)]  # fmt: skip
    clicks = [(webs[i % 2], body) for i, body in enumerate(bodies)]
    with ThreadPoolExecutor(max_workers=len(clicks)) as pool:
        statuses = list(pool.map(lambda c: signed_post(f"{c[0]}/slack/events", c[1]).status_code, clicks))
    assert statuses == [200] * len(clicks)
    urls = {f"/response/{name}" for name in names}

    def answers(calls: list[Call]) -> list[str]:
        return [str(c.params.get("text", "")) for c in calls if c.method == "response_url" and c.params["url"] in urls]

    return answers(slack.wait_for(lambda calls: len(answers(calls)) == len(clicks)))


def runs(ctx: Context, kind: str) -> list[RunRecord]:
    """The runs of `kind`, without those the service lock refused (which never started)."""
    return [r for r in ctx.runs.recent(500) if r.kind == kind and r.status != "refused"]


def ended(ctx: Context, kind: str, count: int) -> list[RunRecord]:
    done = [r for r in runs(ctx, kind) if not r.is_active]
    return done if len(done) >= count else []


def overlaps(records: list[RunRecord]) -> list[tuple[str, str]]:
    """Pairs of runs of one service whose [started, ended] intervals overlap."""
    found = []
    for service in SERVICES:
        spans = sorted((r.started_at, r.ended_at, r.run_id) for r in records if r.service == service and r.started_at)
        for (_, end, first), (start, _, second) in itertools.pairwise(spans):
            assert isinstance(end, datetime) and isinstance(start, datetime)
            if start < end:
                found.append((first, second))
    return found


@pytest.mark.timeout(300)
def test_two_webs_two_workers_five_services_every_run_once_no_lock_violated(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, slack: SlackStandIn
) -> None:
    folder, repos, marks = five_services(tmp_path)
    env["RUNBOOK"] = str(folder)
    monkeypatch.setenv("RUNBOOK", str(folder))
    _clear_caches()
    ctx = factory.get_context()
    webs = [start_web(env), start_web(env)]
    workers = [start_worker(env), start_worker(env)]
    urls = [base for _, base in webs]
    try:

        def send(item: tuple[int, tuple[str, str]]) -> tuple[str, str, dict[str, Any]]:
            index, (name, text) = item  # even commands go to one web process, odd ones to the other
            return name, text, command(urls[index % 2], slack, name, text)

        # 5 commands: a checkpoint for every service (pre-flight), then a bad release on each.
        preflights = [("/preflight", f"{service} phase2") for service in SERVICES]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(send, enumerate(preflights)))
        wait_for(lambda: ended(ctx, "preflight", 5), timeout=90, message="5 pre-flights")
        good = {}
        for service, repo in repos.items():
            git(repo, "checkout", "-q", "main")
            good[service] = git(repo, "rev-parse", "HEAD")
            commit(repo, f"bad release of {service}")

        # 95 more, at once over both webs: two plans per service (the 10 rollbacks), reads, dry
        # runs, validations and mistakes.
        plans = [("/rollback", f"{service} phase2") for service in SERVICES for _ in range(2)]
        others = (
            [("/rollback", "status")] * 20
            + [("/rollback", "history")] * 20
            + [("/rollback", "help")] * 5
            + [("/rollback", "cancel")] * 5
            + [("/rollback", f"--dry-run {SERVICES[i % 5]} phase2") for i in range(5)]
            + [("/rollback", f"{SERVICES[i % 5]} phase2 --dry-run") for i in range(15)]
            + [("/rollback", "svc1 nosuch")] * 5
            + [("/rollback", "phase2")] * 5
            + [("/validate", f"{service} phase2") for service in SERVICES]
        )
        assert len(preflights + plans + others) == 100
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(send, enumerate(plans + others, start=len(preflights))))
        by_text = {(n, t): a for n, t, a in answers}
        assert "several services" in by_text["/rollback", "phase2"]["text"]
        assert "Unknown phase `nosuch`" in by_text["/rollback", "svc1 nosuch"]["text"]
        assert "Dry run" in json.dumps(by_text["/rollback", "--dry-run svc1 phase2"])
        assert by_text["/rollback", "cancel"]["text"].startswith(("Nothing is running", "Which one?"))
        tokens: dict[str, list[str]] = {service: [] for service in SERVICES}
        for name, text, answer in answers:
            if (name, text) in plans:
                value = button_value(answer["blocks"], ActionId.ROLLBACK_CONFIRM)
                tokens[json.loads(value)["service"]].append(value)
        assert all(len(values) == 2 for values in tokens.values())

        # Wave 1: the first plan of each service, confirmed 4 times (twice on each web).
        first = confirm_everywhere(urls, slack, [values[0] for values in tokens.values()])
        assert sum("Confirmed by" in text for text in first) == 5, first
        assert len(runs(ctx, "rollback")) == 5
        # The second plan of each service while the first is queued or running (held in its
        # exclusive step): every click refused, nothing queued.
        competing = confirm_everywhere(urls, slack, [values[1] for values in tokens.values()])
        refusals = ("already has run", "just confirmed", "busy queuing another run")
        assert all(any(words in text for words in refusals) for text in competing), competing
        assert len(runs(ctx, "rollback")) == 5
        # Break-glass runs from a terminal skip the queue's check: the service lock itself refuses
        # them while the worker's run of that service is in its exclusive step.
        held = wait_for(lambda: sorted(p.stem for p in marks.glob("*.running")), message="runs in their step")
        for service in held:
            cli = subprocess.run([ROLLBOT, "rollback", "phase2", "--service", service, "--yes"], capture_output=True,
                                 env={**os.environ, **env}, text=True, timeout=60, check=False)  # fmt: skip
            assert cli.returncode == 1, cli.stdout + cli.stderr
            assert f"another run of {service} holds the lock" in cli.stdout + cli.stderr
        (marks / "release").touch()
        wait_for(lambda: ended(ctx, "rollback", 5), timeout=120, message="the first 5 rollbacks")

        # Wave 2: a new bad release on each service, and the second plans confirmed again.
        for service, repo in repos.items():
            commit(repo, f"bad release of {service}, again")
        second = confirm_everywhere(urls, slack, [values[1] for values in tokens.values()])
        assert sum("Confirmed by" in text for text in second) == 5, second
        wait_for(lambda: ended(ctx, "rollback", 10), timeout=120, message="10 rollbacks")
        wait_for(lambda: ended(ctx, "validation", 5), timeout=60, message="5 validations")

        # A plan shown before there were several services (its button names none): never a guess.
        old = {k: v for k, v in json.loads(tokens["svc1"][0]).items() if k != "service"} | {"token": "old-plan"}
        response = signed_post(f"{urls[0]}/slack/events", action_body(ActionId.ROLLBACK_CONFIRM, json.dumps(old),
                               ONCALL, slack.response_url("old-plan")))  # fmt: skip
        assert response.status_code == 200, (response.status_code, response.text, response.headers)
        said = slack.wait_for(lambda calls: any(c.params.get("url") == "/response/old-plan" for c in calls))
        assert "several services" in [c for c in said if c.params.get("url") == "/response/old-plan"][-1].params["text"]
    finally:
        (marks / "release").touch()  # a failed test leaves no run waiting in its exclusive step
        for worker in workers:
            stop_worker(worker)
        for proc, _ in webs:
            stop(proc)

    refused = [r for r in ctx.runs.recent(500) if r.status == "refused"]
    assert len(refused) == len(held) and {r.actor.split(":")[0] for r in refused} == {"cli"}
    rollbacks = runs(ctx, "rollback")
    assert len(rollbacks) == 10
    assert Counter(r.service for r in rollbacks) == dict.fromkeys(SERVICES, 2)
    assert {r.status for r in rollbacks + runs(ctx, "preflight") + runs(ctx, "validation")} == {"succeeded"}
    assert held, "the lock was met by at least one break-glass run"
    executed = (marks / "executed").read_text().split("\n")[:-1]
    assert sorted(line.split()[1] for line in executed) == sorted(r.run_id for r in rollbacks), "every run once"
    assert not (marks / "violations").exists(), (marks / "violations").read_text()
    assert overlaps(rollbacks + runs(ctx, "preflight")) == []
    for service, repo in repos.items():
        assert git(repo, "rev-parse", "HEAD") == good[service]
    confirmed = [c for c in slack.calls_to("response_url") if "Confirmed by" in c.params.get("text", "")]
    assert len(confirmed) == 10, "each plan started exactly one run, however often it was clicked"
