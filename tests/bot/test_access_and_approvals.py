"""Access by user IDs and Slack user groups, per phase and level and per channel; the two-person
rule for phase 3 level 3, over signed HTTP to the real app with real workers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from jobs.context import Context
from jobs.core.ids import ActionId
from jobs.factory import get_queue
from jobs.guardrails.approvals import expire, reject, request_approval
from jobs.records import audit
from jobs.records.approvals import ApprovalStore
from jobs.runbook.loader import load_runbook
from jobs.runs.enqueue import create_run
from jobs.runs.plan import select, with_checkpoint
from jobs.runs.runner import execute_run
from tests.conftest import (
    LEAD,
    ONCALL,
    STRANGER,
    run_worker,
    start_web,
    start_worker,
    stop,
    stop_worker,
    wait_for,
    write_runbook,
)
from tests.standins.signed import button_value, command_body, signed_post
from tests.standins.slack import SlackStandIn
from tests.support.slack import click, slash

PM = "U0PM"  # an approver through the user group S0LEADS only
GROUP_ACCESS = """\
access:
  roles:
    operator: {users: [U0LEAD], groups: [S0ONCALL]}
    approver: {users: [U0LEAD], groups: [S0LEADS]}
  default: operator
  actions: {approve: approver, rollback/phase3/level3: approver}
  channels: ["#critical-alerts", "C0ONCALL"]
"""


def replies(slack: SlackStandIn) -> list[str]:
    return [c.params.get("text", "") for c in slack.calls_to("response_url")]


def last_reply(slack: SlackStandIn, count_before: int) -> str:
    """The first reply after `count_before` replies (waits for it)."""
    said: list[str] = wait_for(lambda: replies(slack)[count_before:], 10, "an answer")
    return said[0]


def audited(ctx: Context, action: str) -> list[dict[str, str]]:
    return [e for e in audit.entries(ctx.redis, ctx.keys) if e["action"] == action]


def phase3_ready(ctx: Context, env: dict[str, str], repo: Path) -> None:
    path = write_runbook(Path(env["RUNBOOK"]), repo, phase3=True, access=GROUP_ACCESS)
    runbook = load_runbook(path)
    execute_run(ctx, create_run(ctx, select(runbook, "preflight", "phase3"), "cli:test").run_id, runbook)


def test_roles_through_user_groups_are_granted_and_revoked_after_the_cache_ttl(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn
) -> None:
    phase3_ready(ctx, env, repo)
    slack.group_members["S0ONCALL"] = [ONCALL]
    proc, web = start_web(env, ROLLBOT_GROUP_CACHE_SECONDS="1")
    worker = start_worker(env, "--queues", "monitor", ROLLBOT_GROUP_CACHE_SECONDS="1")  # refreshes the groups
    try:
        wait_for(lambda: ctx.redis.exists(f"{ctx.keys.namespace}:group:S0ONCALL"), 30, "the first refresh")
        granted = slash(web, slack, "/rollback", "phase3 level1", user=ONCALL)
        assert "rollback_confirm" in str(granted.get("blocks")), granted

        slack.group_members["S0ONCALL"] = []  # removed from the group in Slack
        revoked = wait_for(lambda: "requires" in (answer := slash(web, slack, "/rollback", "phase3 level1",
                                                                  user=ONCALL)).get("text", "") and answer,
                           10, "the role to be revoked")  # fmt: skip
        assert revoked["text"] == f"Sorry <@{ONCALL}>, rolling back phase3 requires the `operator` role."

        lead_only = slash(web, slack, "/rollback", "phase3 level3", user=LEAD)
        assert "rollback_confirm" in str(lead_only.get("blocks"))
        slack.group_members["S0ONCALL"] = [ONCALL]
        wait_for(lambda: "rollback_confirm" in str(slash(web, slack, "/rollback", "phase3 level1", user=ONCALL)
                                                   .get("blocks")), 10, "the role to come back")  # fmt: skip
        per_level = slash(web, slack, "/rollback", "phase3 level3", user=ONCALL)
        assert "requires the `approver` role" in per_level["text"], "phase3/level3 needs the approver role"

        body = command_body("/rollback", "phase3 level1", ONCALL, slack.response_url(), channel="C0RANDOM")
        elsewhere = signed_post(f"{web}/slack/events", body).json()
        assert elsewhere["text"] == "`/rollback` is accepted only in #critical-alerts, C0ONCALL."
    finally:
        stop(proc)
        stop_worker(worker)
    assert [r.kind for r in ctx.runs.recent(10)] == ["preflight"], "no refusal enqueued anything"
    refusals = [e for e in audited(ctx, "rollback.request") if e["result"] == "refused"]
    assert len(refusals) >= 2 and all("requires the" in e["args"] for e in refusals)
    assert [e["result"] for e in audited(ctx, "rollback.plan")] == ["refused"]


def confirm_level3(web: str, slack: SlackStandIn, user: str) -> str:
    """/rollback phase3 level3 and its confirm by `user`; returns the approval's run id."""
    plan = slash(web, slack, "/rollback", "phase3 level3", user=user)
    before = len(replies(slack))
    click(web, slack, ActionId.ROLLBACK_CONFIRM, button_value(plan["blocks"], "rollback_confirm"), user=user)
    said = last_reply(slack, before)
    assert "Approval requested for phase3 level3" in said, said
    return said.split("(run `", 1)[1].split("`", 1)[0]


def approval_cards(slack: SlackStandIn) -> list[dict[str, Any]]:
    return [c.params for c in slack.calls if c.method in ("chat.postMessage", "chat.update") and c.status == 200
            and (c.params.get("metadata") or {}).get("event_type") == "rollbot_approval"]  # fmt: skip


def test_level3_needs_a_second_approver_who_starts_exactly_one_run(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    phase3_ready(ctx, env, repo)
    slack.group_members["S0LEADS"] = [PM]
    run_worker(env, "--queues", "monitor")  # a worker fetches the groups' members
    run_id = confirm_level3(web, slack, LEAD)
    assert [r.kind for r in ctx.runs.recent(10)] == ["preflight"], "nothing runs on one approval"
    run_worker(env, "--queues", "notify")
    (card,) = approval_cards(slack)
    assert card["metadata"]["event_payload"] == {"run_id": run_id, "requested_by": LEAD, "state": "pending"}
    assert button_value(card["blocks"], "approval_approve") == run_id

    before = len(replies(slack))
    click(web, slack, ActionId.APPROVAL_APPROVE, run_id, user=LEAD)
    assert "you requested this rollback" in last_reply(slack, before)
    before = len(replies(slack))
    click(web, slack, ActionId.APPROVAL_APPROVE, run_id, user=ONCALL)
    assert "requires the `approver` role" in last_reply(slack, before)
    assert [r.kind for r in ctx.runs.recent(10)] == ["preflight"]

    before = len(replies(slack))
    with ThreadPoolExecutor(5) as pool:
        list(pool.map(lambda _: click(web, slack, ActionId.APPROVAL_APPROVE, run_id, user=PM), range(5)))
    wait_for(lambda: len(replies(slack)) >= before + 5, 10, "five answers")
    answers = replies(slack)[before:]
    assert sum("✅ Approved" in a for a in answers) == 1, answers
    rollbacks = [r for r in ctx.runs.recent(10) if r.kind == "rollback"]
    assert [(r.run_id, r.actor, r.approved_by) for r in rollbacks] == [(run_id, LEAD, PM)]
    assert get_queue("rollback").count == 1

    run_worker(env)
    assert ctx.runs.get(run_id).status == "succeeded"
    messages = [c.params for c in slack.calls if c.method in ("chat.postMessage", "chat.update")
                and (c.params.get("metadata") or {}).get("event_type") == "rollbot_run"]  # fmt: skip
    assert f"Requested by <@{LEAD}>, approved by <@{PM}>" in str(messages[-1]["blocks"])
    assert approval_cards(slack)[-1]["metadata"]["event_payload"]["state"] == "approved"
    story = [
        (e["actor"], e["action"], e["result"]) for e in audit.entries(ctx.redis, ctx.keys) if e["run_id"] == run_id
    ]
    assert story[:5] == [(LEAD, "approval.request", "pending"), (LEAD, "approval.approve", "refused"),
                         (ONCALL, "approval.approve", "refused"), (PM, "approval.approve", "approved"),
                         (LEAD, "rollback.request", "queued")]  # fmt: skip
    the_story = ["approval.request", "approval.approve", "rollback.request", "pagerduty.page", "rollback.start",
                 "step.end", "rollback.end"]  # fmt: skip
    actions = iter(action for _, action, _ in story)
    assert all(any(action == wanted for action in actions) for wanted in the_story), story
    commands = [e for e in audited(ctx, "command") if e["actor"] == LEAD]
    assert commands and '"text": "phase3 level3"' in commands[0]["args"]


def test_an_expired_or_rejected_approval_starts_nothing(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    phase3_ready(ctx, env, repo)
    slack.group_members["S0LEADS"] = [PM]
    run_worker(env, "--queues", "monitor")  # a worker fetches the groups' members
    store = ApprovalStore(ctx.redis, ctx.keys)
    expired = confirm_level3(web, slack, LEAD)
    store.update(expired, lambda a: setattr(a, "expires_at", a.requested_at - timedelta(seconds=1)))
    before = len(replies(slack))
    click(web, slack, ActionId.APPROVAL_APPROVE, expired, user=PM)
    assert "expired; nothing was started" in last_reply(slack, before)
    assert store.get(expired).state == "expired"  # type: ignore[union-attr]

    lapsed = confirm_level3(web, slack, LEAD)
    store.update(lapsed, lambda a: setattr(a, "expires_at", a.requested_at - timedelta(seconds=1)))
    assert expire(ctx, lapsed)  # what RQ's scheduler runs at the expiry time
    rejected = confirm_level3(web, slack, LEAD)
    before = len(replies(slack))
    click(web, slack, ActionId.APPROVAL_REJECT, rejected, user=STRANGER)
    assert "requires the `approver` role" in last_reply(slack, before)
    click(web, slack, ActionId.APPROVAL_REJECT, rejected, user=LEAD)  # the requester withdraws
    wait_for(lambda: store.get(rejected).state == "rejected", 10, "the rejection")  # type: ignore[union-attr]
    before = len(replies(slack))
    click(web, slack, ActionId.APPROVAL_APPROVE, rejected, user=PM)
    assert "already rejected" in last_reply(slack, before)

    assert [r.kind for r in ctx.runs.recent(10)] == ["preflight"]
    run_worker(env, "--queues", "notify")
    states = {c["metadata"]["event_payload"]["run_id"]: c["metadata"]["event_payload"]["state"]
              for c in approval_cards(slack)}  # fmt: skip
    assert states == {expired: "expired", lapsed: "expired", rejected: "rejected"}
    assert len(audited(ctx, "approval.expire")) == 1


def test_an_approval_expires_through_the_scheduler_and_a_retry_asks_again(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn
) -> None:
    phase3_ready(ctx, env, repo)
    proc, web = start_web(env, ROLLBOT_APPROVAL_EXPIRY="2s")
    worker = start_worker(env, "--queues", "notify")  # with RQ's scheduler, as in production
    try:
        run_id = confirm_level3(web, slack, LEAD)
        store = ApprovalStore(ctx.redis, ctx.keys)
        wait_for(lambda: store.get(run_id).state == "expired", 15, "the expiry")  # type: ignore[union-attr]
        wait_for(lambda: approval_cards(slack) and approval_cards(slack)[-1]["metadata"]["event_payload"]["state"]
                 == "expired", 15, "the card to say so")  # fmt: skip
    finally:
        stop(proc)
        stop_worker(worker)
    assert [e["result"] for e in audited(ctx, "approval.expire")] == ["expired"]
    runbook = load_runbook(Path(env["RUNBOOK"]))
    plan = with_checkpoint(select(runbook, "rollback", "phase3", "level3"), ctx.checkpoints.get("sandbox", "phase3"))
    first = request_approval(ctx, plan, LEAD, "escalate:rb-x")
    assert request_approval(ctx, plan, LEAD, "escalate:rb-x").run_id == first.run_id, "a double click asks once"
    reject(ctx, first.run_id, LEAD)
    again = request_approval(ctx, plan, LEAD, "escalate:rb-x")
    assert again.run_id != first.run_id and again.state == "pending", "after a rejection, the same button asks again"
    assert [r.kind for r in ctx.runs.recent(10)] == ["preflight"]
