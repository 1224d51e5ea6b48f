"""The one exceptions module: every error rollbot raises on purpose carries a user-facing message."""

from __future__ import annotations


class RollbotError(Exception):
    """Root of rollbot's errors. `user_message` is safe to show in Slack or a terminal."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class SettingsError(RollbotError):
    """A required setting is missing or malformed; the process must not start."""


class RunbookError(RollbotError):
    """The runbook could not be loaded; `problems` holds every (YAML path, message) found."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        lines = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"{source}: {len(problems)} error(s)\n{lines}")
        self.problems = problems


class UnknownTargetError(RollbotError):
    """A phase or level that the runbook does not have; the message lists the valid ones."""


class NoCheckpointError(RollbotError):
    """A rollback needs a recorded checkpoint and there is none; the message names the preflight."""


class AnalysisOnlyError(RollbotError):
    """The phase is analysis-only: there is nothing to roll back."""


class RunNotFoundError(RollbotError):
    """No run record with that id."""
