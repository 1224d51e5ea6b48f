"""The runbooks one deployment serves. `RUNBOOK` names one runbook file, or a folder holding one
runbook per service (`*.yaml`, `*.yml`); every process reads the same catalog, and a run, alert
or approval finds its runbook by the service it names.

A folder's runbooks post to one alert channel (they must agree on `alert_channel`): the channel's
ID is learned once and every message in it is matched against every runbook's alert rules.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jobs.context import Context
from jobs.exceptions import RunbookError, UnknownTargetError
from jobs.runbook.loader import load_runbook_cached
from jobs.runbook.model import Runbook

logger = logging.getLogger(__name__)

RUNBOOK_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Catalog:
    """Runbooks by service, in file-name order."""

    books: dict[str, Runbook]

    @property
    def services(self) -> list[str]:
        """The services, in file-name order."""
        return list(self.books)

    @property
    def single(self) -> Runbook | None:
        """The runbook when there is only one (then commands need not name a service)."""
        return next(iter(self.books.values())) if len(self.books) == 1 else None

    @property
    def first(self) -> Runbook:
        """The first runbook: settings all runbooks share (the alert channel) are read from it."""
        return next(iter(self.books.values()))

    def get(self, service: str) -> Runbook:
        """The runbook of `service`; `UnknownTargetError` listing the services otherwise."""
        book = self.books.get(service)
        if book is None:
            raise UnknownTargetError(f"Unknown service `{service}`. Services: {self.service_list()}.")
        return book

    def choose(self, service: str | None, how: str) -> Runbook:
        """The runbook of `service`, or the only one when none is named; with several and none
        named, `UnknownTargetError` saying `how` to name one.
        """
        if service is not None:
            return self.get(service)
        if self.single is None:
            raise UnknownTargetError(f"rollbot serves several services: {self.service_list()}. Name one: {how}.")
        return self.single

    def service_list(self) -> str:
        """The services as Slack text: `a`, `b`."""
        return ", ".join(f"`{name}`" for name in self.books)

    def __iter__(self) -> Iterator[Runbook]:
        return iter(self.books.values())

    def __len__(self) -> int:
        return len(self.books)


def runbook_files(path: Path) -> list[Path]:
    """The runbook files `path` names: itself, or a folder's `*.yaml`/`*.yml` in name order."""
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix in RUNBOOK_SUFFIXES and p.is_file())
    if not files:
        raise RunbookError(str(path), [("(folder)", "holds no *.yaml runbook")])
    return files


def load_catalog(path: Path) -> Catalog:
    """Every runbook `path` names, each validated (and re-read only when its file changes); two
    runbooks for one service, or a folder's runbooks disagreeing on `alert_channel`, are errors.
    """
    books: dict[str, Runbook] = {}
    where: dict[str, Path] = {}
    for file in runbook_files(path):
        book = load_runbook_cached(file)
        if book.service in books:
            raise RunbookError(
                str(file), [("service", f"`{book.service}` is already the service of {where[book.service]}")]
            )
        if books and book.alert_channel != next(iter(books.values())).alert_channel:
            first = next(iter(where.values()))
            raise RunbookError(str(file), [("alert_channel", f"`{book.alert_channel}` differs from {first}'s: "
                                            "the runbooks of one deployment share one alert channel")])  # fmt: skip
        books[book.service] = book
        where[book.service] = file
    if len(books) > 1:
        _check_names(books, where)
    return Catalog(books)


RESERVED_WORDS = ("status", "history", "cancel", "help")  # `/rollback` subcommands


def _check_names(books: dict[str, Runbook], where: dict[str, Path]) -> None:
    """Commands may start with a service name: it must not read as a subcommand or a phase."""
    phases = {phase for book in books.values() for phase in book.phases}
    for service, file in where.items():
        if service.lower() in RESERVED_WORDS or service.lower() in phases:
            raise RunbookError(str(file), [("service", f"`{service}` is also a command word or a phase name: "
                                            "`/rollback <service> <phase>` could not tell them apart")])  # fmt: skip


def catalog(ctx: Context) -> Catalog:
    """The catalog named by the process's `RUNBOOK` setting."""
    return load_catalog(ctx.settings.runbook)


def runbook_for(ctx: Context, service: str) -> Runbook:
    """The runbook of `service` (the service a run, alert or incident names)."""
    return catalog(ctx).get(service)


def find_runbook(ctx: Context, service: str) -> Runbook | None:
    """`runbook_for`, or None (logged) when the runbooks cannot be read or do not have `service`:
    paging, reminders and reports then use their defaults rather than fail.
    """
    try:
        return runbook_for(ctx, service)
    except (RunbookError, UnknownTargetError) as error:
        logger.error("no runbook for %s; defaults are used: %s", service, error.user_message)
        return None
