"""Parsing slash command text. Every bad input becomes a `UsageError` with a clear message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from jobs.blocks import help_text
from jobs.exceptions import RollbotError
from jobs.runbook.model import Runbook

MAX_TEXT = 200  # no valid command is longer
_WORD = re.compile(r"^[A-Za-z0-9_.:-]+$")
SUBCOMMANDS = ("status", "history", "cancel", "help")


class UsageError(RollbotError):
    """The command text is not something rollbot understands; the message says what is valid."""


@dataclass(frozen=True)
class Command:
    """What a `/rollback`, `/preflight` or `/validate` asked for."""

    action: Literal["plan", "status", "history", "cancel", "help"]
    phase: str | None = None
    level: str | None = None
    dry_run: bool = False
    run_id: str | None = None


def _words(text: str, runbook: Runbook, usage: str) -> list[str]:
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise UsageError(f"That is {len(text)} characters; no rollbot command is that long.\n{usage}\n\n"
                         f"{help_text(runbook)}")  # fmt: skip
    words = text.split()
    for word in words:
        if not _WORD.match(word):
            shown = word[:40].replace("`", "'")
            raise UsageError(f"I don't understand `{shown}`.\n{usage}\n\n{help_text(runbook)}")
    return words


def parse_rollback(text: str, runbook: Runbook) -> Command:
    """`/rollback <phase> [<level>] [--dry-run]` or `status | history | cancel [run] | help`."""
    usage = "Usage: `/rollback <phase> [<level>] [--dry-run]` or `/rollback status|history|cancel [run]|help`."
    words = _words(text, runbook, usage)
    if not words or words[0].lower() == "help":
        if len(words) > 1:
            raise UsageError(f"`help` takes nothing after it.\n{usage}")
        return Command("help")
    first = words[0].lower()
    if first in ("status", "history"):
        if len(words) > 1:
            raise UsageError(f"`{first}` takes nothing after it.\n{usage}")
        return Command(first)  # type: ignore[arg-type]
    if first == "cancel":
        if len(words) > 2:
            raise UsageError(f"`cancel` takes at most a run id.\n{usage}")
        return Command("cancel", run_id=words[1] if len(words) == 2 else None)
    dry_run = "--dry-run" in words
    rest = [w for w in words if w != "--dry-run"]
    options = [w for w in rest if w.startswith("-")]
    if options:
        raise UsageError(f"Unknown option `{options[0]}`: the only option is `--dry-run`.\n{usage}")
    if len(rest) > 2:
        raise UsageError(f"Too many words: `{' '.join(rest)}`.\n{usage}")
    return Command("plan", phase=rest[0].lower(), level=rest[1].lower() if len(rest) == 2 else None, dry_run=dry_run)


def parse_phase_only(text: str, runbook: Runbook, command: str, required: bool) -> str | None:
    """`/preflight <phase>` and `/validate [phase]`: one phase name (or none where optional)."""
    usage = f"Usage: `{command} <phase>`" if required else f"Usage: `{command} [phase]`"
    words = _words(text, runbook, usage)
    if (words and words[0].lower() == "help") or len(words) > 1 or (required and not words):
        raise UsageError(f"{usage}.\n\n{help_text(runbook)}")
    return words[0].lower() if words else None
