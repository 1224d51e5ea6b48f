"""What a run will do: the phase/level chosen, its budget, checkpoint and resolved steps."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from jobs.core.durations import format_duration
from jobs.core.exceptions import AnalysisOnlyError, NoCheckpointError, UnknownTargetError
from jobs.records.checkpoints import Checkpoint
from jobs.runbook.model import (
    CommandStep,
    GitCheckpointStep,
    GitResetStep,
    HttpCheckStep,
    Phase,
    Runbook,
    StepBase,
    WaitUntilHealthyStep,
)
from jobs.runbook.placeholders import placeholder_names, substitute

Kind = Literal["rollback", "preflight", "validation"]
_CHECKPOINT_NAMES = {"checkpoint", "checkpoint_commit"}
CHECKLIST_PHASE = "checklist"  # the phase name of a validation run that covers only the checklist


@dataclass(frozen=True)
class Plan:
    """A run's target and steps, before anything runs."""

    runbook: Runbook
    kind: Kind
    phase_name: str
    phase: Phase
    level_name: str | None
    budget: float
    steps: Sequence[StepBase]
    approvals: int = 1
    checkpoint: Checkpoint | None = None
    values: dict[str, str] = field(default_factory=dict)

    @property
    def needs_checkpoint(self) -> bool:
        """True when a step resets to, or names, a checkpoint that no earlier step of this run takes."""
        for step in self.steps:
            if isinstance(step, GitCheckpointStep):
                return False
            if isinstance(step, GitResetStep) or _CHECKPOINT_NAMES & set(_names(step)):
                return True
        return False

    def require_checkpoint(self) -> None:
        """`NoCheckpointError` naming the preflight to run, when the plan needs one and has none."""
        if self.needs_checkpoint and self.checkpoint is None:
            raise NoCheckpointError(
                f"No checkpoint is recorded for {self.phase_name} of {self.runbook.service}, so there is "
                f"nothing to reset to. Run `/preflight {self.runbook.service_word}{self.phase_name}` (or "
                f"`rollbot preflight {self.phase_name}{self.runbook.service_option}`) before the change, "
                "then roll back."
            )


def _names(step: StepBase) -> list[str]:
    texts: list[str] = []
    if isinstance(step, CommandStep):
        texts = [*step.run, *step.env.values()]
    elif isinstance(step, HttpCheckStep | WaitUntilHealthyStep) and step.url:
        texts = [step.url]
    return [name for text in texts for name in placeholder_names(text)]


def _phase_list(runbook: Runbook) -> str:
    def label(name: str, phase: Phase) -> str:
        note = ", analysis only" if phase.analysis_only else ""
        return f"`{name}` ({phase.title}{note})"

    return ", ".join(label(name, phase) for name, phase in runbook.phases.items())


def level_list(phase: Phase) -> str:
    """The phase's levels with their budgets, for help and error messages."""
    return ", ".join(f"`{name}` ({format_duration(level.budget)})" for name, level in phase.levels.items())


def analysis_only_message(name: str, phase: Phase) -> str:
    """What the bot says for an analysis-only phase: nothing to roll back, and what to do instead."""
    lines = [f"{name} ({phase.title}) is analysis-only: there are no code changes to roll back."]
    if phase.stop_criteria:
        lines.append("Emergency stop criteria:")
        lines += [f"  • {c}" for c in phase.stop_criteria]
    if phase.recovery_actions:
        lines.append("Recovery actions:")
        lines += [f"  {i}. {a}" for i, a in enumerate(phase.recovery_actions, 1)]
    return "\n".join(lines)


def select(runbook: Runbook, kind: Kind, phase_name: str | None, level_name: str | None = None) -> Plan:
    """The plan of `kind` for `phase_name` (and level); clear errors for anything unknown."""
    if phase_name is None or (kind == "validation" and phase_name == CHECKLIST_PHASE):
        if kind != "validation":
            raise UnknownTargetError(f"`{kind}` needs a phase. Valid phases: {_phase_list(runbook)}.")
        return _validation_plan(runbook, CHECKLIST_PHASE, _checklist_phase(), {**runbook.vars})
    phase = runbook.phases.get(phase_name)
    if phase is None:
        raise UnknownTargetError(f"Unknown phase `{phase_name}`. Valid phases: {_phase_list(runbook)}.")
    if phase.analysis_only and kind != "validation":
        raise AnalysisOnlyError(analysis_only_message(phase_name, phase))
    values = {**runbook.vars, "phase": phase_name, "service": runbook.service, "level": level_name or ""}
    if kind == "rollback":
        level_name = level_name or phase.first_level
        level = phase.levels.get(level_name or "")
        if level is None or level_name is None:
            raise UnknownTargetError(f"{phase_name} has no level `{level_name}`. Valid levels: {level_list(phase)}.")
        values["level"] = level_name
        return Plan(
            runbook,
            kind,
            phase_name,
            phase,
            level_name,
            level.budget,
            list(level.steps),
            level.approvals,
            values=values,
        )
    if level_name is not None:
        raise UnknownTargetError(f"Levels apply to rollbacks only; `{kind}` takes just a phase.")
    if kind == "validation":
        return _validation_plan(runbook, phase_name, phase, values)
    steps = phase.preflight
    if not steps:
        raise UnknownTargetError(f"{phase_name} ({phase.title}) has no {kind} steps.")
    budget = phase.preflight_budget if kind == "preflight" else phase.validation_budget
    return Plan(runbook, kind, phase_name, phase, None, budget, list(steps), values=values)


def _checklist_phase() -> Phase:
    return Phase(title="Recovery validation checklist", risk="minimal", analysis_only=True)


def checklist_steps(runbook: Runbook) -> list[StepBase]:
    """The recovery checklist items that have a command, as steps (the others are checked by people)."""
    return [
        CommandStep(name=item.name, run=item.run, timeout=item.timeout)
        for item in runbook.recovery_checklist
        if item.run
    ]


def manual_checklist_items(runbook: Runbook) -> list[str]:
    """Checklist items without a command: a person verifies them."""
    return [item.name for item in runbook.recovery_checklist if not item.run]


def _validation_plan(runbook: Runbook, phase_name: str, phase: Phase, values: dict[str, str]) -> Plan:
    """The phase's validation steps, then the recovery checklist's commands not already among them."""
    steps = list(phase.validation)
    seen = [s.run for s in steps if isinstance(s, CommandStep)]
    steps += [s for s in checklist_steps(runbook) if isinstance(s, CommandStep) and s.run not in seen]
    if not steps:
        raise UnknownTargetError(f"{phase_name} has no validation steps and the checklist has no commands.")
    values = {**values, "phase": phase_name, "service": runbook.service, "level": ""}
    return Plan(runbook, "validation", phase_name, phase, None, phase.validation_budget, steps, values=values)


def with_checkpoint(plan: Plan, checkpoint: Checkpoint | None, run_id: str | None = None) -> Plan:
    """The plan with the phase's recorded checkpoint (and run id) filled in."""
    values = dict(plan.values)
    if checkpoint is not None:
        values |= {"checkpoint": checkpoint.tag, "checkpoint_commit": checkpoint.commit}
    if run_id is not None:
        values["run_id"] = run_id
    return Plan(
        plan.runbook,
        plan.kind,
        plan.phase_name,
        plan.phase,
        plan.level_name,
        plan.budget,
        plan.steps,
        plan.approvals,
        checkpoint,
        values,
    )


def resolve(text: str, values: dict[str, str]) -> str:
    """`text` with placeholders filled; ones not known yet are shown as `<name>`."""
    missing = {name: f"<{name}>" for name in placeholder_names(text) if name not in values}
    return substitute(text, {**values, **missing})


def command_text(step: StepBase, plan: Plan) -> str:
    """What the step will run, resolved as far as it can be before the run."""
    if isinstance(step, CommandStep):
        return shlex.join(resolve(arg, plan.values) for arg in step.run)
    if isinstance(step, GitResetStep):
        target = plan.checkpoint.tag if plan.checkpoint else "<recorded checkpoint>"
        commit = f" ({plan.checkpoint.commit[:12]})" if plan.checkpoint else ""
        return f"git checkout {plan.runbook.main_branch} && git reset --hard {target}{commit}"
    if isinstance(step, GitCheckpointStep):
        branch = f" and check out {step.branch}-YYYYMMDD" if step.branch else ""
        return f"git tag {plan.phase.checkpoint}-YYYYMMDD{branch}"
    if isinstance(step, HttpCheckStep):
        return f"{step.method} {resolve(step.url, plan.values)}"
    if isinstance(step, WaitUntilHealthyStep):
        target = resolve(step.url, plan.values) if step.url else f"health source {step.source}"
        return f"wait until {target} is healthy (every {format_duration(step.interval)})"
    return step.describe()


KIND_TITLES = {"rollback": "Rollback", "preflight": "Pre-flight checks", "validation": "Validation"}


def render_plan(plan: Plan) -> str:
    """The plan as plain text, for the terminal (Slack builds its own blocks from the same Plan)."""
    phase = plan.phase
    header = KIND_TITLES[plan.kind]
    lines = [f"{header} — {plan.runbook.service} {plan.phase_name} ({phase.title}), risk {phase.risk}"]
    if plan.level_name:
        level = phase.levels[plan.level_name]
        title = f" ({level.title})" if level.title else ""
        approvals = " · needs a second approver" if plan.approvals > 1 else ""
        lines.append(f"Level: {plan.level_name}{title} · budget {format_duration(plan.budget)}{approvals}")
    else:
        lines.append(f"Budget: {format_duration(plan.budget)}")
    lines.append(f"Repository: {plan.runbook.repo} (main branch {plan.runbook.main_branch})")
    if plan.checkpoint:
        cp = plan.checkpoint
        by = f" by {cp.actor}" if cp.actor else ""
        lines.append(f"Checkpoint: {cp.tag} at {cp.commit[:12]}, taken {cp.taken_at:%Y-%m-%d %H:%M} UTC{by}")
    elif plan.needs_checkpoint:
        lines.append(
            f"Checkpoint: none recorded — run `rollbot preflight {plan.phase_name}{plan.runbook.service_option}` first"
        )
    lines.append("Steps:")
    for i, step in enumerate(plan.steps, 1):
        timeout = f"  [timeout {format_duration(step.timeout)}]" if step.timeout else ""
        keep_going = "  [continues on failure]" if step.continue_on_failure else ""
        lines.append(f"  {i}. {step.title}: {command_text(step, plan)}{timeout}{keep_going}")
    return "\n".join(lines)
