"""A rehearsal in Slack: its run message (the ordinary one, marked a rehearsal), the result as a
reply in its thread, and a readiness card in the alert channel when a level's verdict changes.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs import chains
from jobs.context import Context
from jobs.core.redis_values import optional_text
from jobs.factory import get_context
from jobs.runbook.catalog import catalog, runbook_for
from jobs.runbook.model import Runbook
from jobs.runs import rehearsal_schedule
from jobs.runs.readiness import RehearsalResult, verdict_changed
from jobs.runs.rehearsal import execute_rehearsal
from jobs.slack import blocks
from jobs.slack.channel import alert_channel
from jobs.slack.notifier import RunMessage, RunNotifier

logger = logging.getLogger(__name__)

_SLACK_ERRORS = (SlackApiError, SlackClientError, OSError)


def rehearse_with_message(ctx: Context, client: WebClient, run_id: str, runbook: Runbook) -> RehearsalResult:
    """Rehearse `run_id` with its progress in the alert channel, then reply with the result and post
    a readiness card when the level's verdict changed since the last card.
    """
    with RunNotifier(RunMessage(ctx, client, run_id)) as notifier:
        result = execute_rehearsal(ctx, run_id, runbook, [notifier.changed])
    reply_result(ctx, client, result)
    record = result.record
    if verdict_changed(ctx, record.service, record.phase, record.level or "", result.ready):
        post_card(ctx, client, runbook, result)
    return result


def reply_result(ctx: Context, client: WebClient, result: RehearsalResult) -> None:
    """The result in the run message's thread (best effort: the record has it anyway)."""
    key = ctx.keys.run_slack(result.record.run_id)
    channel, ts = optional_text(ctx.redis.hget(key, "channel")), optional_text(ctx.redis.hget(key, "ts"))
    if not channel or not ts:
        return
    try:
        client.chat_postMessage(channel=channel, thread_ts=ts, text=blocks.rehearsal_reply(result, ctx.clock()))
    except _SLACK_ERRORS as error:
        logger.warning("rehearsal %s: result not replied in Slack (%s)", result.record.run_id, error)


def post_card(ctx: Context, client: WebClient, runbook: Runbook, result: RehearsalResult) -> None:
    """The readiness card, in the alert channel."""
    text, card, metadata = blocks.readiness_card(result, ctx.clock())
    try:
        client.chat_postMessage(channel=alert_channel(ctx, runbook), text=text, blocks=card, metadata=metadata)
    except _SLACK_ERRORS as error:
        logger.warning("rehearsal %s: readiness card not posted (%s)", result.record.run_id, error)


def rehearse(run_id: str) -> str:
    """The body of `jobs.tasks.rehearsal_job` for a rehearsal: rehearse with the run message; the
    level may then be scheduled again.
    """
    ctx = get_context()
    record = ctx.runs.get(run_id)
    try:
        result = rehearse_with_message(ctx, ctx.slack, run_id, runbook_for(ctx, record.service))
    finally:
        rehearsal_schedule.done(ctx, record)
    return "ready" if result.ready else "not ready"


def tick(chain_name: str, generation: str) -> str:
    """The body of `jobs.tasks.rehearsal_job` for a tick of a service's scheduled rehearsals: the
    next tick first, then a rehearsal of each due level.
    """
    ctx = get_context()
    if not chains.is_current(ctx, chain_name, generation):
        return "superseded"
    service = chain_name.removeprefix("rehearsals/")
    runbook = catalog(ctx).books.get(service)
    interval = rehearsal_schedule.tick_interval(runbook) if runbook is not None else None
    if runbook is None or interval is None:
        return "nothing scheduled (chain stopped)"
    chain = rehearsal_schedule.chain_for(service)
    chains.schedule(ctx, chain, generation, interval, interval, rehearsal_schedule.TICK_JOB_TIMEOUT)
    return f"{len(rehearsal_schedule.rehearse_due(ctx, runbook))} rehearsal(s) queued"
