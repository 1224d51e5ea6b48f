"""The one refusal path, over signed HTTP to the real app: a refusal is audited and said with the
same words whether it comes before the ack (a slash command's answer) or after it (a click, said
through the response_url while the click itself is answered 200).
"""

from __future__ import annotations

import json
from pathlib import Path

from jobs.context import Context
from jobs.core.ids import ActionId
from jobs.records import audit
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import create_run
from jobs.runs.plan import select
from tests.conftest import ONCALL, STRANGER, wait_for, write_runbook
from tests.standins.signed import command_body, signed_post
from tests.standins.slack import SlackStandIn
from tests.support.slack import click, slash

CHANNEL_ACCESS = """\
access:
  roles:
    operator: {users: [U0ONCALL, U0LEAD]}
    approver: {users: [U0LEAD]}
  default: operator
  actions: {approve: approver}
  channels: ["#critical-alerts", "C0ONCALL"]
"""
DENIED = f"Sorry <@{STRANGER}>, cancelling a run requires the `operator` role."


def refusals(ctx: Context, action: str) -> list[dict[str, str]]:
    return [e for e in audit.entries(ctx.redis, ctx.keys) if e["action"] == action and e["result"] == "refused"]


def test_a_refusal_is_audited_and_said_alike_before_and_after_the_ack(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    book = load_runbook(write_runbook(Path(env["RUNBOOK"]), repo, access=CHANNEL_ACCESS))
    run_id = create_run(ctx, select(book, "preflight", "phase2"), "cli:test").run_id

    answer = slash(web, slack, "/rollback", f"cancel {run_id}", user=STRANGER)  # refused before the ack
    assert answer == {"response_type": "ephemeral", "text": DENIED}

    click(web, slack, ActionId.ROLLBACK_CANCEL, run_id, user=STRANGER)  # refused after the ack: still a 200
    said = wait_for(lambda: slack.calls_to("response_url"), 10, "the refusal of the click")
    assert [{k: v for k, v in c.params.items() if k != "url"} for c in said] == [
        {"text": DENIED, "replace_original": False, "response_type": "ephemeral"}
    ]

    audited = refusals(ctx, "run.cancel")
    assert [(e["actor"], e["run_id"]) for e in audited] == [(STRANGER, run_id)] * 2
    assert all(json.loads(e["args"])["reason"] == DENIED for e in audited)
    assert ctx.runs.get(run_id).status == "queued", "a refusal changes nothing"


def test_a_command_in_a_channel_the_runbook_does_not_accept_is_refused_and_audited(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo, access=CHANNEL_ACCESS)
    elsewhere = "`/rollback` is accepted only in #critical-alerts, C0ONCALL."
    for text, action in (("cancel", "rollback.cancel"), ("status", "rollback.status")):
        body = command_body("/rollback", text, ONCALL, slack.response_url(), channel="C0RANDOM")
        response = signed_post(f"{web}/slack/events", body)
        assert response.status_code == 200 and response.json() == {"response_type": "ephemeral", "text": elsewhere}
        assert [json.loads(e["args"]) for e in refusals(ctx, action)] == [{"channel": "C0RANDOM", "reason": elsewhere}]


def test_an_error_after_the_ack_is_said_and_the_click_still_answered(web: str, slack: SlackStandIn) -> None:
    click(web, slack, ActionId.ROLLBACK_CANCEL, "no-such-run", user=ONCALL)  # asserts the 200
    said = wait_for(lambda: slack.calls_to("response_url"), 10, "the answer to the click")
    assert len(said) == 1 and "no-such-run" in said[0].params["text"]
    assert said[0].params["response_type"] == "ephemeral"
