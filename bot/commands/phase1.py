"""`/rollback phase1` (an analysis-only phase): the manual's emergency stop criteria as a checklist
and *Document blockers* instead of a plan.
"""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from jobs.runbook.model import Runbook
from jobs.runs.plan import analysis_only_message
from jobs.slack import blocks


def analysis_only_blocks(book: Runbook, phase_name: str) -> list[Block]:
    """The analysis-only answer: what the phase is, its stop criteria, *Document blockers*."""
    phase = book.phases[phase_name]
    first = analysis_only_message(phase_name, phase).splitlines()[0]
    checklist = blocks.phase1_checklist(book.service, phase_name, phase.title, phase.stop_criteria, book.tracking_issue)
    return [blocks.note(first), *checklist]
