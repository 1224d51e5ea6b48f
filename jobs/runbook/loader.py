"""Loads a runbook YAML file and reports every problem with its YAML path (and line)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from jobs.core.exceptions import RunbookError
from jobs.runbook.model import (
    STEP_KINDS,
    ChecklistItem,
    CommandStep,
    GitCheckpointStep,
    GitResetStep,
    HttpCheckStep,
    Runbook,
    StepBase,
    WaitUntilHealthyStep,
)
from jobs.runbook.placeholders import BUILTIN_NAMES, placeholder_names

Loc = Sequence[int | str]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: two `phase2:` blocks must not silently merge."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def format_loc(loc: Loc) -> str:
    """`("phases", "phase2", "steps", 0, "run")` → `phases.phase2.steps[0].run`."""
    text = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(previous, int) and part in STEP_KINDS:
            pass  # pydantic's union tag, not a YAML key
        else:
            text += f".{part}" if text else str(part)
        previous = part
    return text or "(top level)"


def _yaml_line(root: yaml.Node | None, loc: Loc) -> int | None:
    """Line (1-based) of the deepest YAML node `loc` reaches."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    previous: int | str | None = None
    for part in loc:
        is_tag = isinstance(previous, int) and part in STEP_KINDS
        previous = part
        if is_tag:
            continue
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _problem(root: yaml.Node | None, loc: Loc, message: str) -> tuple[str, str]:
    line = _yaml_line(root, loc)
    where = format_loc(loc) + (f" (line {line})" if line else "")
    return where, message


def _located_steps(runbook: Runbook) -> Iterator[tuple[tuple[int | str, ...], str, StepBase]]:
    """Every step with its YAML location and the phase it belongs to."""
    for phase_name, phase in runbook.phases.items():
        base: tuple[int | str, ...] = ("phases", phase_name)
        for i, step in enumerate(phase.preflight):
            yield (*base, "preflight", i), phase_name, step
        for level_name, level in phase.levels.items():
            for i, step in enumerate(level.steps):
                yield (*base, "levels", level_name, "steps", i), phase_name, step
        for i, step in enumerate(phase.validation):
            yield (*base, "validation", i), phase_name, step


def _templated_strings(step: StepBase | ChecklistItem) -> list[str]:
    if isinstance(step, CommandStep):
        return [*step.run, *step.env.values()]
    if isinstance(step, HttpCheckStep | WaitUntilHealthyStep) and step.url:
        return [step.url]
    if isinstance(step, ChecklistItem) and step.run:
        return list(step.run)
    return []


def _placeholder_problems(known: set[str], step: StepBase | ChecklistItem) -> list[str]:
    problems = []
    label = f"step {step.name!r}" if step.name else "this step"
    for text in _templated_strings(step):
        try:
            names = placeholder_names(text)
        except ValueError as error:
            problems.append(f"{label}: {error}")
            continue
        for name in names:
            if name not in known:
                valid = ", ".join(sorted(known))
                problems.append(f"{label}: unknown placeholder {{{name}}} in {text!r}; known: {valid}")
    return problems


def semantic_problems(runbook: Runbook, root: yaml.Node | None = None) -> list[tuple[str, str]]:
    """Problems pydantic cannot see: placeholders, references between sections, phase shape."""
    problems: list[tuple[str, str]] = []
    known = set(runbook.vars) | set(BUILTIN_NAMES)
    for loc, phase_name, step in _located_steps(runbook):
        phase = runbook.phases[phase_name]
        problems += [_problem(root, loc, p) for p in _placeholder_problems(known, step)]
        if isinstance(step, GitCheckpointStep | GitResetStep) and not phase.checkpoint:
            problems.append(_problem(root, loc, f"{step.uses} needs `checkpoint:` (a tag prefix) on the phase"))
        if isinstance(step, WaitUntilHealthyStep) and step.source and step.source not in runbook.health:
            problems.append(_problem(root, loc, f"health source {step.source!r} is not defined under health"))
    for i, item in enumerate(runbook.recovery_checklist):
        loc = ("recovery_checklist", i)
        problems += [_problem(root, loc, p) for p in _placeholder_problems(known, item)]
    for name, phase in runbook.phases.items():
        loc = ("phases", name)
        if phase.analysis_only and (phase.levels or phase.preflight):
            problems.append(_problem(root, loc, "an analysis_only phase has no levels or preflight steps"))
        if not phase.analysis_only and not phase.levels:
            problems.append(_problem(root, loc, "a phase needs at least one level (or analysis_only: true)"))
    return (
        problems + _target_problems(runbook, root) + _access_problems(runbook, root) + _approval_problems(runbook, root)
    )


def _access_problems(runbook: Runbook, root: yaml.Node | None) -> list[tuple[str, str]]:
    """`access.actions` keys narrowed to a phase (and level) must name ones the runbook has."""
    if runbook.access is None:
        return []
    problems = []
    for key in runbook.access.actions:
        _action, *target = key.split("/")
        loc = ("access", "actions", key)
        phase = runbook.phases.get(target[0]) if target else None
        if target and phase is None:
            valid = ", ".join(runbook.phases)
            problems.append(_problem(root, loc, f"phase {target[0]!r} does not exist (phases: {valid})"))
        elif phase is not None and len(target) > 1 and target[1] not in phase.levels:
            valid = ", ".join(phase.levels) or "none"
            problems.append(_problem(root, loc, f"level {target[1]!r} does not exist in {target[0]} (levels: {valid})"))
    return problems


def _approval_problems(runbook: Runbook, root: yaml.Node | None) -> list[tuple[str, str]]:
    """A level needing two approvals needs a role named for `approve`, not just the default."""
    if runbook.access is None:
        return []
    problems = []
    for phase_name, phase in runbook.phases.items():
        for level_name, level in phase.levels.items():
            keys = ("approve", f"approve/{phase_name}", f"approve/{phase_name}/{level_name}")
            if level.approvals > 1 and not any(key in runbook.access.actions for key in keys):
                problems.append(_problem(root, ("access", "actions"), f"{phase_name} {level_name} needs two "
                                         "approvals: name the approver role, e.g. `approve: approver`"))  # fmt: skip
    return problems


def _target_problems(runbook: Runbook, root: yaml.Node | None) -> list[tuple[str, str]]:
    """Rollbacks named by health sources and alert rules must exist."""
    problems: list[tuple[str, str]] = []
    targets: list[tuple[tuple[int | str, ...], str | None, str | None]] = [
        (("health", source_name, "on_breach"), source.on_breach.phase, source.on_breach.level)
        for source_name, source in runbook.health.items()
        if source.on_breach is not None
    ]
    targets += [(("alerts", i), rule.phase, rule.level) for i, rule in enumerate(runbook.alerts)]
    for loc, name, level in targets:
        if name is None:
            continue
        phase = runbook.phases.get(name)
        if phase is None:
            problems.append(_problem(root, loc, f"phase {name!r} does not exist"))
        elif phase.analysis_only or not phase.levels:
            problems.append(_problem(root, loc, f"phase {name!r} has no rollback levels"))
        elif level is not None and level not in phase.levels:
            problems.append(_problem(root, loc, f"level {level!r} does not exist in {name}"))
    return problems


def parse_runbook(text: str, source: str, base_dir: Path) -> Runbook:
    """Validate runbook YAML `text`; `RunbookError` lists every problem with its YAML path."""
    try:
        root = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise RunbookError(source, [(where, str(getattr(error, "problem", error)))]) from error
    if not isinstance(data, dict):
        raise RunbookError(source, [("(top level)", "a runbook is a YAML mapping")])
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as error:
        problems = [_problem(root, e["loc"], e["msg"].removeprefix("Value error, ")) for e in error.errors()]
        raise RunbookError(source, problems) from error
    problems = semantic_problems(runbook, root)
    if problems:
        raise RunbookError(source, problems)
    return runbook.model_copy(update={"repo": (base_dir / runbook.repo).resolve()})


def load_runbook(path: Path) -> Runbook:
    """Read and validate the runbook at `path`; relative `repo:` is taken from the file's folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RunbookError(str(path), [("(file)", f"cannot read: {error.strerror}")]) from error
    except UnicodeDecodeError as error:
        raise RunbookError(str(path), [("(file)", f"not UTF-8 text: {error.reason} at byte {error.start}")]) from error
    return parse_runbook(text, str(path), path.parent)


_CACHE: dict[Path, tuple[tuple[int, int], Runbook]] = {}


def load_runbook_cached(path: Path) -> Runbook:
    """`load_runbook`, reloaded only when the file changes (for the web process's hot path)."""
    try:
        stat = path.stat()
    except OSError as error:
        raise RunbookError(str(path), [("(file)", f"cannot read: {error.strerror}")]) from error
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == version:
        return cached[1]
    runbook = load_runbook(path)
    _CACHE[path] = (version, runbook)
    return runbook
