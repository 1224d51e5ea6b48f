"""/preflight and /validate over real HTTP, with a real worker and the Slack stand-in."""

from __future__ import annotations

import json
from pathlib import Path

from jobs.context import Context
from jobs.core.ids import ActionId
from jobs.factory import get_queue
from tests.conftest import CHECKLIST, LEAD, ONCALL, STRANGER, git, run_worker, wait_for, write_runbook
from tests.standins.signed import button_value
from tests.standins.slack import SlackStandIn
from tests.support.slack import channel_posts, click, final_state, slash

CHECKLIST_WITH_MANUAL_ITEMS = (
    CHECKLIST
    + """\
  - name: "Error Rates: <1% across all services"
"""
)


def dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_preflight_posts_its_checks_and_the_checkpoint_recorded(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo)
    head = git(repo, "rev-parse", "HEAD")
    assert "requires the `operator` role" in slash(web, slack, "/preflight", "phase2", user=STRANGER)["text"]
    answer = slash(web, slack, "/preflight", "phase2")
    assert "Queuing pre-flight checks for phase2" in answer["text"]
    queued = slack.wait_for(lambda calls: any("Queued run" in str(c.params.get("text")) for c in calls))
    assert any(c.method == "response_url" for c in queued)

    run_worker(env)

    checkpoint = ctx.checkpoints.get("sandbox", "phase2")
    assert checkpoint is not None and checkpoint.commit == head
    assert final_state(slack)["status"] == "succeeded"
    final = dump(slack.calls_to("chat.update")[-1].params["blocks"])
    assert f"Checkpoint recorded: `{checkpoint.tag}` at `{head[:12]}`" in final
    assert "✅ 1. git.checkpoint" in final and "✅ 2. Mission critical tests" in final
    assert len(channel_posts(slack)) == 1


def test_validate_card_runs_commands_and_records_who_verified_the_rest(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    path = write_runbook(Path(env["RUNBOOK"]), repo)
    path.write_text(path.read_text().replace("access:", CHECKLIST_WITH_MANUAL_ITEMS + "access:", 1))
    slash(web, slack, "/validate", "phase2")
    slack.wait_for(lambda calls: any("Queued run" in str(c.params.get("text")) for c in calls))
    run_worker(env)

    run = ctx.runs.recent(1)[0]
    assert run.kind == "validation" and run.status == "succeeded"
    card = slack.calls_to("chat.update")[-1].params["blocks"]
    text = dump(card)
    assert "✅ 1. imports work" in text and "✅ 2. Tool Dispatcher: All factory patterns working" in text
    assert "◻️ User Authentication: Login flow working end-to-end" in text
    assert "2 of 4 items still open." in text
    assert button_value(card, ActionId.CHECKLIST_VERIFIED) == f"{run.run_id}|0"

    updates_before = len(slack.calls_to("chat.update"))
    click(web, slack, ActionId.CHECKLIST_VERIFIED, f"{run.run_id}|0", user=LEAD)
    wait_for(lambda: get_queue("notify").count, message="the card refresh to be queued")
    run_worker(env)
    slack.wait_for(
        lambda calls: len([c for c in calls if c.method == "chat.update" and c.status == 200]) > updates_before
    )
    card = dump(slack.calls_to("chat.update")[-1].params["blocks"])
    assert "☑️ User Authentication: Login flow working end-to-end" in card and "verified by <@U0LEAD>" in card
    assert "1 of 4 items still open." in card

    # A later click by someone else does not rewrite who verified it; a stranger may not verify.
    click(web, slack, ActionId.CHECKLIST_VERIFIED, f"{run.run_id}|0", user=ONCALL)
    click(web, slack, ActionId.CHECKLIST_VERIFIED, f"{run.run_id}|1", user=STRANGER)
    refusal = slack.wait_for(lambda calls: any("requires the `operator` role" in str(c.params.get("text"))
                                               for c in calls))  # fmt: skip
    assert refusal
    wait_for(lambda: get_queue("notify").count, message="the card refresh to be queued")
    run_worker(env)
    slack.wait_for(
        lambda calls: len([c for c in calls if c.method == "chat.update" and c.status == 200]) > updates_before + 1
    )
    card = dump(slack.calls_to("chat.update")[-1].params["blocks"])
    assert "verified by <@U0LEAD>" in card and "verified by <@U0ONCALL>" not in card
    assert "1 of 4 items still open." in card
    assert len(channel_posts(slack)) == 1
