"""Words every Slack message shares: status icons and result words, who and what a run is."""

from __future__ import annotations

from jobs.records.runs import RunRecord
from jobs.runs.plan import Plan

SECTION_LIMIT = 2900  # Slack's section text limit is 3000 characters
ICONS = {
    "pending": "◻️",
    "running": "⏳",
    "succeeded": "✅",
    "failed": "❌",
    "timed_out": "⏱️",
    "budget_exceeded": "⏱️",
    "cancelled": "🛑",
    "interrupted": "💥",
    "skipped": "⏭",
    "queued": "🕒",
    "refused": "🚫",
}
RESULT_WORDS = {
    "succeeded": "succeeded", "failed": "FAILED", "timed_out": "FAILED: a step timed out",
    "budget_exceeded": "FAILED: budget exceeded", "cancelled": "cancelled", "interrupted": "interrupted",
    "refused": "REFUSED", "queued": "queued", "running": "running",
}  # fmt: skip


def clip(text: str, limit: int = SECTION_LIMIT) -> str:
    """`text` within `limit` characters, saying it was cut (section texts)."""
    return text if len(text) <= limit else text[: limit - 20] + "\n… (truncated)"


def shorten(text: str, limit: int) -> str:
    """`text` within `limit` characters, on one line, ending with … when cut (button texts)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def who(actor: str) -> str:
    """A Slack mention for Slack user IDs, the actor as written otherwise (`cli:alice`, `automation`)."""
    return f"<@{actor}>" if actor[:1] in ("U", "W") and actor.isalnum() else f"`{actor}`"


def target(record_or_plan: RunRecord | Plan) -> str:
    """`phase2 immediate` / `phase2`."""
    if isinstance(record_or_plan, Plan):
        phase, level = record_or_plan.phase_name, record_or_plan.level_name
    else:
        phase, level = record_or_plan.phase, record_or_plan.level
    return f"{phase} {level}" if level else phase
