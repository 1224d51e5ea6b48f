"""What listeners need, built once per web process: the fail-fast context and the runbook."""

from __future__ import annotations

from jobs.context import Context
from jobs.factory import get_web_context
from jobs.plan import Kind, Plan, select, with_checkpoint
from jobs.runbook.loader import load_runbook_cached
from jobs.runbook.model import Runbook


def context() -> Context:
    """The web process's context (Redis fails fast, so Slack is answered in time)."""
    return get_web_context()


def runbook() -> Runbook:
    """The runbook named by `RUNBOOK`, re-read only when the file changes."""
    return load_runbook_cached(context().settings.runbook)


def plan(book: Runbook, kind: Kind, phase: str | None, level: str | None = None) -> Plan:
    """The plan for a request, with the phase's recorded checkpoint (reads Redis)."""
    chosen = select(book, kind, phase, level)
    return with_checkpoint(chosen, context().checkpoints.get(book.service, chosen.phase_name))


def actor(user_id: str) -> str:
    """Runs started from Slack are attributed to the Slack user ID."""
    return user_id
