"""`rollbot socket` end to end against a Socket Mode stand-in over a real WebSocket: the same
`/rollback` → confirm → run → final status flow as over HTTP, a `refresh_requested` disconnect
mid-stream (nothing lost, nothing handled twice), two processes sharing the envelopes, bad input
logged and survived. Real `rollbot socket` processes, real workers, real git, real Redis."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from jobs.context import Context
from jobs.records import audit
from tests.conftest import ONCALL, ROLLBOT, git, run_worker, stop, wait_for
from tests.standins.slack import SlackStandIn
from tests.standins.socket_mode import SocketModeStandIn
from tests.support.runs import ready_repo
from tests.support.slack import final_state
from tests.support.views import valid_view

APP_TOKEN = "xapp-1-A0ROLLBOT-0000-test"


@pytest.fixture
def socket_mode(slack: SlackStandIn) -> Iterator[SocketModeStandIn]:
    """The Socket Mode stand-in; the Web API stand-in's apps.connections.open answers its URL."""
    standin = SocketModeStandIn().start()
    slack.socket_url = standin.url
    yield standin
    slack.socket_url = None
    standin.stop()


class Socket:
    """A `rollbot socket` process, its log in a file (never a pipe nobody reads)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.log: IO[str] = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in `stop`
        self.proc = subprocess.Popen([ROLLBOT, "socket"], env={**os.environ, **env, "SLACK_APP_TOKEN": APP_TOKEN},
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)  # fmt: skip

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        stop(self.proc)
        self.log.close()


@pytest.fixture
def sockets(env: dict[str, str]) -> Iterator[list[Socket]]:
    started: list[Socket] = []
    yield started
    for socket in started:
        socket.stop()


def start(env: dict[str, str], sockets: list[Socket], socket_mode: SocketModeStandIn, count: int = 1) -> None:
    for _ in range(count):
        sockets.append(Socket(env))
    try:
        socket_mode.wait_for_links(count)
    except AssertionError:
        raise AssertionError("\n".join(s.output() for s in sockets)) from None


def slash_payload(text: str, user: str = ONCALL, channel: str = "C0ONCALL", response_url: str = "") -> dict[str, Any]:
    return {"token": "legacy", "team_id": "T0TEST", "team_domain": "test", "channel_id": channel,
            "channel_name": "oncall", "user_id": user, "user_name": user.lower(), "command": "/rollback",
            "text": text, "api_app_id": "A0ROLLBOT", "response_url": response_url, "trigger_id": "1.2.3"}  # fmt: skip


def click_payload(action_id: str, value: str, response_url: str, user: str = ONCALL) -> dict[str, Any]:
    return {"type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
            "api_app_id": "A0ROLLBOT", "token": "legacy", "trigger_id": "1.2.3",
            "team": {"id": "T0TEST", "domain": "test"}, "channel": {"id": "C0ALERTS", "name": "critical-alerts"},
            "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0ALERTS"},
            "response_url": response_url,
            "actions": [{"action_id": action_id, "block_id": "b1", "value": value, "type": "button",
                         "action_ts": str(time.time())}]}  # fmt: skip


def event_payload(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {"token": "legacy", "team_id": "T0TEST", "api_app_id": "A0ROLLBOT", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()), "event": event}  # fmt: skip


def commands_audited(ctx: Context) -> Counter[str]:
    """How many times each channel's `/rollback` was audited as received (= handled)."""
    return Counter(str(e.args.get("channel")) for e in audit.read(ctx.redis, ctx.keys) if e.action == "command")


def test_rollback_confirm_run_and_final_status_over_socket_mode(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, socket_mode: SocketModeStandIn,
    sockets: list[Socket],
) -> None:  # fmt: skip
    good, _bad = ready_repo(ctx, env, repo)
    start(env, sockets, socket_mode)
    assert slack.calls_to("apps.connections.open")

    plan_id = socket_mode.send("slash_commands", slash_payload("phase2", response_url=slack.response_url()))
    ack = socket_mode.ack_of(plan_id)
    assert ack["envelope_id"] == plan_id
    plan = ack["payload"]
    assert plan["response_type"] == "ephemeral" and "Factory Pattern Consolidation" in json.dumps(plan)
    confirm = next(e for b in plan["blocks"] for e in b.get("elements", []) if e.get("action_id") == "rollback_confirm")

    click_id = socket_mode.send("interactive", click_payload("rollback_confirm", confirm["value"],
                                                             slack.response_url()))  # fmt: skip
    socket_mode.wait_acked([click_id])
    confirmed = slack.wait_for(lambda calls: any(c.method == "response_url" for c in calls))
    assert "Confirmed by <@U0ONCALL>" in next(c for c in confirmed if c.method == "response_url").params["text"]
    record = ctx.runs.recent(1)[0]
    assert record.kind == "rollback" and record.status == "queued"

    home = {"type": "app_home_opened", "user": ONCALL, "channel": "D0HOME", "tab": "home", "event_ts": "1.2"}
    event_id = socket_mode.send("events_api", event_payload(home, "Ev0SOCKET"), accepts_response_payload=False)
    socket_mode.wait_acked([event_id])
    wait_for(lambda: len(ctx.queue("notify")) >= 1, timeout=10, message="the Home to be queued")
    run_worker(env)

    assert ctx.runs.get(record.run_id).status == "succeeded"
    assert git(repo, "rev-parse", "HEAD") == good
    assert final_state(slack)["status"] == "succeeded"
    published = slack.calls_to("views.publish")
    assert len(published) == 1 and published[0].params["user_id"] == ONCALL
    valid_view(published[0].params["view"])
    assert all(len(e.deliveries) == 1 and len(e.acks) == 1 for e in socket_mode.envelopes.values())


def test_a_refresh_mid_stream_loses_nothing_and_handles_nothing_twice(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, socket_mode: SocketModeStandIn,
    sockets: list[Socket],
) -> None:  # fmt: skip
    ready_repo(ctx, env, repo)
    start(env, sockets, socket_mode)
    first = socket_mode.open_links()[0]
    ids = [socket_mode.send("slash_commands", slash_payload("help", channel=f"C{i:03d}")) for i in range(10)]
    socket_mode.disconnect(first)  # while some of these are still being handled
    ids += [socket_mode.send("slash_commands", slash_payload("help", channel=f"C{i:03d}")) for i in range(10, 20)]
    socket_mode.wait_acked(ids)

    assert len(slack.calls_to("apps.connections.open")) >= 2  # it asked for a new URL and reconnected
    assert len(socket_mode.links) >= 2 and all(e not in first.received for e in ids[10:])
    for envelope_id in ids:
        envelope = socket_mode.envelopes[envelope_id]
        assert len(envelope.deliveries) == 1 and len(envelope.acks) == 1, envelope
        assert "/rollback" in envelope.acks[0][1]["payload"]["text"]  # the help, in the ack
    wait_for(lambda: sum(commands_audited(ctx).values()) >= 20, timeout=10, message="20 commands audited")
    time.sleep(0.5)  # a second handling would show up here
    assert commands_audited(ctx) == Counter({f"C{i:03d}": 1 for i in range(20)})
    assert sockets[0].proc.poll() is None


def test_two_socket_processes_share_the_envelopes(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, socket_mode: SocketModeStandIn,
    sockets: list[Socket],
) -> None:  # fmt: skip
    ready_repo(ctx, env, repo)
    start(env, sockets, socket_mode, count=2)
    ids = [socket_mode.send("slash_commands", slash_payload("help", channel=f"C{i:03d}")) for i in range(20)]
    socket_mode.wait_acked(ids)

    links = Counter(socket_mode.envelopes[i].deliveries[0][0] for i in ids)
    assert len(links) == 2 and all(n >= 5 for n in links.values())  # both processes took their share
    assert all(len(socket_mode.envelopes[i].acks) == 1 for i in ids)
    wait_for(lambda: sum(commands_audited(ctx).values()) >= 20, timeout=10, message="20 commands audited")
    time.sleep(0.5)
    assert commands_audited(ctx) == Counter({f"C{i:03d}": 1 for i in range(20)})


def test_bad_input_is_logged_and_survived(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, socket_mode: SocketModeStandIn,
    sockets: list[Socket],
) -> None:  # fmt: skip
    ready_repo(ctx, env, repo)
    start(env, sockets, socket_mode)
    socket_mode.send_raw("{this is not JSON")
    socket_mode.send_raw("not JSON at all")
    mystery = socket_mode.send("mystery_envelope", {"what": "nobody knows"})
    after = socket_mode.send("slash_commands", slash_payload("help", channel="C0AFTER"))
    socket_mode.wait_acked([after])

    assert "/rollback" in socket_mode.ack_of(after)["payload"]["text"]
    assert sockets[0].proc.poll() is None
    wait_for(lambda: commands_audited(ctx)["C0AFTER"] == 1, timeout=10, message="the command after bad input")
    log = wait_for(lambda: (out := sockets[0].output()) and "mystery_envelope" in out and out, timeout=10,
                   message="the unknown envelope in the log")  # fmt: skip
    assert "malformed message ignored: '{this is not JSON'" in log
    assert "malformed message ignored: 'not JSON at all'" in log
    assert f"unknown envelope type 'mystery_envelope' (envelope {mystery})" in log
    assert len(socket_mode.envelopes[mystery].acks) == 1  # acknowledged: Slack does not send it again


def test_the_rollback_modal_over_socket_mode(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, socket_mode: SocketModeStandIn,
    sockets: list[Socket],
) -> None:  # fmt: skip
    good, _bad = ready_repo(ctx, env, repo)
    start(env, sockets, socket_mode)
    opened_id = socket_mode.send("slash_commands", slash_payload("", response_url=slack.response_url()))
    socket_mode.wait_acked([opened_id])
    opened = slack.wait_for(lambda calls: any(c.method == "views.open" for c in calls), timeout=10)
    assert next(c for c in opened if c.method == "views.open").params["trigger_id"] == "1.2.3"
    run_worker(env)
    update = slack.calls_to("views.update")[-1].params
    view = valid_view(update["view"]) | {"id": update["view_id"]}

    values = {"modal_service": {"modal_service": {"selected_option": {"value": "sandbox"}}},
              "modal_phase": {"modal_phase": {"selected_option": {"value": "phase2"}}},
              "modal_level": {"modal_level": {"selected_option": {"value": "immediate"}}}}  # fmt: skip
    submitted = socket_mode.send("interactive", {
        "type": "view_submission", "team": {"id": "T0TEST"}, "user": {"id": ONCALL}, "api_app_id": "A0ROLLBOT",
        "token": "legacy", "trigger_id": "1.2.4", "view": {**view, "state": {"values": values}},
    })  # fmt: skip
    answer = socket_mode.ack_of(submitted)["payload"]
    assert answer["response_action"] == "update" and "Confirmed by <@U0ONCALL>" in json.dumps(answer)
    run_worker(env)
    assert ctx.runs.recent(1)[0].status == "succeeded" and git(repo, "rev-parse", "HEAD") == good
