"""Block Kit for rehearsals and readiness: the usual durations under a plan, the readiness card
(posted when a level's verdict changes) and the `/rollback readiness` list.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.metadata import Metadata

from jobs.core.ids import MetadataType
from jobs.runs.eta import Estimate, plan_lines
from jobs.runs.plan import Plan
from jobs.runs.readiness import RehearsalResult, Row, result_text, row_text
from jobs.slack.blocks.words import clip


def estimate_block(plan: Plan, estimate: Estimate) -> SectionBlock:
    """Under a plan: each step's usual duration and the expected total against the budget."""
    lines = plan_lines(plan, estimate)
    return SectionBlock(text=MarkdownTextObject(text=clip("*Usual durations*\n" + "\n".join(lines))))


def rehearsal_reply(result: RehearsalResult, now: datetime) -> str:
    """The thread reply under a rehearsal's run message: the whole result, verdict first."""
    icon = "✅" if result.ready else "❌"
    return clip(f"{icon} ```{result_text(result, now)}```")


def readiness_card(result: RehearsalResult, now: datetime) -> tuple[str, list[Block], Metadata]:
    """The card posted in the alert channel when a level's verdict changes."""
    record = result.record
    what = f"{record.service} {record.phase} {record.level or ''}".rstrip()
    verdict = "ready" if result.ready else "NOT READY"
    title = f"{'✅' if result.ready else '⚠️'} Rollback readiness: {what} is {verdict}"
    reasons = "\n".join(f"• {reason}" for reason in result.reasons) or "Its rehearsal succeeded within the budget."
    footer = f"rehearsal `{record.run_id}` · {now:%Y-%m-%d %H:%M} UTC · `/rollback readiness` lists every level"
    blocks: list[Block] = [
        HeaderBlock(text=title[:150]),
        SectionBlock(text=MarkdownTextObject(text=clip(reasons))),
        ContextBlock(elements=[MarkdownTextObject(text=footer)]),
    ]
    payload = {"service": record.service, "phase": record.phase, "level": record.level or "",
               "ready": result.ready, "run_id": record.run_id}  # fmt: skip
    return title, blocks, Metadata(event_type=MetadataType.READINESS, event_payload=payload)


def readiness_list(rows: Sequence[Row], now: datetime) -> str:
    """`/rollback readiness`: one line per service, phase and level."""
    if not rows:
        return "No level to roll back in the runbooks."
    lines = [("✅ " if row.ready else "⚠️ ") + row_text(row, now) for row in rows]
    return clip("*Rollback readiness*\n" + "\n".join(lines))
