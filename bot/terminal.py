"""Plain-text views of runbooks and runs for the terminal (the break-glass path)."""

from __future__ import annotations

from pathlib import Path

import click

from jobs.alerts import rules as alert_rules
from jobs.core.durations import format_duration
from jobs.records.runs import RunRecord, StepRecord
from jobs.runbook.model import Runbook
from jobs.slack.blocks import ICONS, RESULT_WORDS


def runbook_summary(path: Path, runbook: Runbook) -> str:
    """What `rollbot runbook check` prints for a valid runbook."""
    lines = [f"{path}: OK — service {runbook.service}, repo {runbook.repo}, {len(runbook.phases)} phases"]
    for name, phase in runbook.phases.items():
        if phase.analysis_only:
            lines.append(f"  {name}  {phase.title}: analysis only ({len(phase.stop_criteria)} stop criteria)")
            continue
        lines.append(
            f"  {name}  {phase.title}: risk {phase.risk}, checkpoint {phase.checkpoint}, "
            f"preflight {len(phase.preflight)} steps, validation {len(phase.validation)} steps"
        )
        for level_name, level in phase.levels.items():
            approvals = ", 2 approvals" if level.approvals > 1 else ""
            lines.append(
                f"      {level_name}: budget {format_duration(level.budget)}, {len(level.steps)} steps{approvals}"
            )
    for name, source in runbook.health.items():
        breach = source.on_breach
        action = f", on breach {breach.phase} {breach.level or ''} ({breach.mode})" if breach else ""
        every = format_duration(source.interval)
        dry = " — dry run" if source.dry_run else ""
        lines.append(f"  health {name}: every {every}, {len(source.metrics)} metrics{action}{dry}")
    for rule in alert_rules.rules(runbook):
        target = f"{rule.phase} {rule.level or ''}".strip() if rule.phase else "no rollback"
        lines.append(f"  alert rule {rule.name}: {rule.metric} → {target} ({rule.mode})")
    commands = sum(1 for item in runbook.recovery_checklist if item.run)
    lines.append(f"  recovery checklist: {len(runbook.recovery_checklist)} items ({commands} with a command)")
    return "\n".join(lines)


def print_step(step: StepRecord | None, total: int) -> None:
    """One line per finished step (and its output tail when it did not succeed)."""
    if step is None or step.status in ("pending", "running"):
        return
    took = f" ({format_duration(step.duration)})" if step.duration is not None else ""
    detail = f" — {step.detail}" if step.detail else ""
    click.echo(f"{ICONS[step.status]} [{step.index + 1}/{total}] {step.title}{took}: {step.status}{detail}")
    if step.status not in ("succeeded", "skipped") and step.output_tail:
        for line in step.output_tail.splitlines()[-15:]:
            click.echo(f"    | {line}")


def run_result(record: RunRecord) -> str:
    """The closing line of a run."""
    if record.status == "refused":
        return f"Run {record.run_id} REFUSED: {record.error}"
    elapsed = format_duration(record.elapsed or 0)
    head = f" HEAD is {record.head_after[:12]}." if record.head_after else ""
    over = " The budget was exceeded." if record.status == "budget_exceeded" else ""
    return (
        f"Run {record.run_id} {RESULT_WORDS[record.status]} after {elapsed} "
        f"(budget {format_duration(record.budget)}).{over}{head}"
    )


def run_line(record: RunRecord) -> str:
    """One run in a list."""
    kind = "rehearsal" if record.rehearsal else record.kind
    target = f"{kind} {record.phase}" + (f" {record.level}" if record.level else "")
    step = record.current_step
    now = f" — step {step.index + 1}/{len(record.steps)}: {step.title}" if step else ""
    when = f"{record.created_at:%Y-%m-%d %H:%M}Z"
    return f"{record.run_id}  {when}  {target:<28} {record.status:<15} {record.actor}{now}"


def run_details(record: RunRecord) -> str:
    """One run with its steps."""
    lines = [run_line(record)]
    for step in record.steps:
        took = f" ({format_duration(step.duration)})" if step.duration is not None else ""
        lines.append(f"  {ICONS[step.status]} {step.index + 1}. {step.title}{took}: {step.status}")
    if record.error:
        lines.append(f"  {record.error}")
    return "\n".join(lines)
