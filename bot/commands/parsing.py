"""Parsing slash command text. Every bad input becomes a `UsageError` with a clear message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from jobs.core.exceptions import UsageError
from jobs.runbook.catalog import Catalog
from jobs.slack.blocks import help_text

MAX_TEXT = 200  # no valid command is longer
_WORD = re.compile(r"^[A-Za-z0-9_.:-]+$")
SUBCOMMANDS = ("status", "history", "readiness", "cancel", "help")


@dataclass(frozen=True)
class Command:
    """What a `/rollback`, `/preflight` or `/validate` asked for."""

    action: Literal["plan", "status", "history", "readiness", "cancel", "help"]
    phase: str | None = None
    level: str | None = None
    dry_run: bool = False
    rehearse: bool = False
    run_id: str | None = None
    service: str | None = None


def _words(text: str, books: Catalog, usage: str) -> list[str]:
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise UsageError(f"That is {len(text)} characters; no rollbot command is that long.\n{usage}\n\n"
                         f"{help_text(books)}")  # fmt: skip
    words = text.split()
    for word in words:
        if not _WORD.match(word):
            shown = word[:40].replace("`", "'")
            raise UsageError(f"I don't understand `{shown}`.\n{usage}\n\n{help_text(books)}")
    return words


def _service(words: list[str], books: Catalog) -> tuple[str | None, list[str]]:
    """A leading service name, and the words after it (optional with one runbook, where a word
    that is also a phase or a subcommand is taken as that)."""
    if not words or words[0].lower() not in books.services:
        return None, words
    word = words[0].lower()
    if not books.several and (word in SUBCOMMANDS or any(word in book.phases for book in books)):
        return None, words
    return word, words[1:]


def parse_rollback(text: str, books: Catalog) -> Command:
    """`/rollback [<service>] <phase> [<level>] [--dry-run | --rehearse]` or `status | history |
    readiness | cancel [run] | help`."""
    service_word = "<service> " if books.several else ""
    usage = (f"Usage: `/rollback {service_word}<phase> [<level>] [--dry-run]`, "
             f"`/rollback {service_word}<phase> [<level>] --rehearse` or "
             "`/rollback status|history|readiness|cancel [run]|help`.")  # fmt: skip
    words = _words(text, books, usage)
    dry_run, rehearse = "--dry-run" in words, "--rehearse" in words
    service, words = _service([w for w in words if w not in ("--dry-run", "--rehearse")], books)
    if (not words and service is None) or (words and words[0].lower() == "help"):
        if len(words) > 1:
            raise UsageError(f"`help` takes nothing after it.\n{usage}")
        return Command("help", service=service)
    if not words:
        raise UsageError(f"Which phase of `{service}`?\n{usage}\n\n{help_text(books)}")
    first = words[0].lower()
    if first in ("status", "history", "readiness", "cancel") and service is not None:
        raise UsageError(f"`{first}` covers every service: `/rollback {first}`.\n{usage}")
    if first in ("status", "history", "readiness"):
        if len(words) > 1:
            raise UsageError(f"`{first}` takes nothing after it.\n{usage}")
        return Command(first)  # type: ignore[arg-type]
    if first == "cancel":
        if len(words) > 2:
            raise UsageError(f"`cancel` takes at most a run id.\n{usage}")
        return Command("cancel", run_id=words[1] if len(words) == 2 else None)
    rest = words
    options = [w for w in rest if w.startswith("-")]
    if options:
        raise UsageError(f"Unknown option `{options[0]}`: the only option is `--dry-run`. To rehearse the level "
                         f"instead: `--rehearse`.\n{usage}")  # fmt: skip
    if dry_run and rehearse:
        raise UsageError(f"`--dry-run` or `--rehearse`, not both: a rehearsal changes nothing real.\n{usage}")
    if len(rest) > 2:
        raise UsageError(f"Too many words: `{' '.join(rest)}`.\n{usage}")
    level = rest[1].lower() if len(rest) == 2 else None
    return Command("plan", phase=rest[0].lower(), level=level, dry_run=dry_run, service=service, rehearse=rehearse)


def parse_phase_only(text: str, books: Catalog, command: str, required: bool) -> tuple[str | None, str | None]:
    """`/preflight [<service>] <phase>` and `/validate [<service>] [phase]`: (service, phase), each
    None where not given (the phase only where optional).
    """
    service_word = "<service> " if books.several else ""
    usage = f"Usage: `{command} {service_word}<phase>`" if required else f"Usage: `{command} {service_word}[phase]`"
    service, words = _service(_words(text, books, usage), books)
    if (words and words[0].lower() == "help") or len(words) > 1 or (required and not words):
        raise UsageError(f"{usage}.\n\n{help_text(books)}")
    return service, (words[0].lower() if words else None)
