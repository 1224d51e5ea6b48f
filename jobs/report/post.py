"""Posting a report as a file in the run message's thread, once."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs.context import Context
from jobs.core.exceptions import DeliveryFailed, RunNotFoundError
from jobs.core.redis_values import text
from jobs.report.chart import build_chart
from jobs.report.render import build_report
from jobs.runbook.model import Runbook

logger = logging.getLogger(__name__)

# --- posting -----------------------------------------------------------------------------------


def post(ctx: Context, client: WebClient, run_id: str, runbook: Runbook | None) -> str:
    """Upload the report as `<run id>-report.md` into the run message's thread, once.
    `DeliveryFailed` (so RQ retries) while the message is not posted yet or Slack fails.
    """
    key = ctx.keys.run_slack(run_id)
    state = {text(k): text(v) for k, v in ctx.redis.hgetall(key).items()}
    if state.get("report_uploaded"):
        return "already posted"
    channel, ts = state.get("channel"), state.get("ts")
    if not (channel and ts):
        raise DeliveryFailed(f"run {run_id} has no Slack message yet; its report waits for it")
    try:
        record = ctx.runs.get(run_id)
    except RunNotFoundError:
        logger.warning("run %s: gone from Redis, no incident report to post", run_id)
        return "no such run"
    content = build_report(ctx, run_id, runbook)
    target = f"{record.phase} {record.level or ''}".rstrip()
    files: list[dict[str, Any]] = [
        {"content": content, "filename": f"{run_id}-report.md",
         "title": f"Incident report: {record.service} {target} ({run_id})"},
    ]  # fmt: skip
    png = build_chart(ctx, run_id, runbook)
    if png is not None:  # the picture beside the report
        files.append({"content": png, "filename": f"{run_id}-golden-path.png",
                      "title": f"Golden path during {run_id}"})  # fmt: skip
    try:
        client.files_upload_v2(channel=channel, thread_ts=ts, file_uploads=files)
    except (SlackApiError, SlackClientError, OSError) as error:
        logger.warning("run %s: incident report not uploaded yet: %s", run_id, error)
        raise DeliveryFailed(f"incident report of {run_id} not uploaded yet: {error}") from error
    ctx.redis.hset(key, "report_uploaded", "1")
    return "posted"
