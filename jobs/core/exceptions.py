"""The one exceptions module: every error rollbot raises on purpose carries a user-facing message."""

from __future__ import annotations

from typing import Literal


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


class AccessDenied(RollbotError):
    """The user lacks the role an action needs; the message names the role."""


class DeliveryFailed(RollbotError):
    """Slack could not be reached or refused the update; the delivery job is retried."""


class RunInProgressError(RollbotError):
    """Another run of the same service is queued or running."""


class UsageError(RollbotError):
    """The command text is not something rollbot understands; the message says what is valid."""


class GitError(RollbotError):
    """A git command failed; the message holds the command and git's own words."""


class GitStopped(GitError):
    """A git command was killed (with its process group) at its deadline or on a cancel request.
    `notes` says what the step had done before (a stash, a tag).
    """

    def __init__(self, message: str, ending: Literal["deadline", "stopped"], reason: str | None) -> None:
        super().__init__(message)
        self.ending = ending
        self.reason = reason
        self.notes: list[str] = []


class MailError(RollbotError):
    """An e-mail was not sent: the SMTP server could not be reached (`retryable`) or refused it;
    `refused` maps each refused address to the server's answer.
    """

    def __init__(self, message: str, retryable: bool, refused: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.refused = refused or {}


class ServiceRefused(RollbotError):
    """An outside service (Statuspage, GitHub) refused a request or could not be reached;
    `retryable` says whether trying again may help.
    """

    def __init__(self, message: str, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
