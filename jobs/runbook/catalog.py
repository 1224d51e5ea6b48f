"""The runbooks one deployment serves. `RUNBOOK` names one runbook file, or a folder holding one
runbook per service (`*.yaml`, `*.yml`); every process reads the same catalog, and a run, alert
or approval finds its runbook by the service it names.

A folder's runbooks post to one alert channel (they must agree on `alert_channel`): the channel's
ID is learned once and every message in it is matched against every runbook's alert rules.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from jobs.core.exceptions import RunbookError, UnknownTargetError
from jobs.core.settings import Settings
from jobs.runbook.loader import load_runbook_cached
from jobs.runbook.model import Runbook

logger = logging.getLogger(__name__)

RUNBOOK_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Catalog:
    """Runbooks by service, in file-name order, and the files of a folder that could not be used
    (each service stands on its own: one broken file never stops the others).
    """

    books: dict[str, Runbook]
    broken: dict[str, RunbookError] = field(default_factory=dict)  # file → why it is not used

    @property
    def services(self) -> list[str]:
        """The services, in file-name order."""
        return list(self.books)

    @property
    def several(self) -> bool:
        """Whether commands must name the service (more than one runbook file)."""
        return len(self.books) + len(self.broken) > 1

    @property
    def single(self) -> Runbook | None:
        """The runbook when there is only one (then commands need not name a service)."""
        return None if self.several else next(iter(self.books.values()), None)

    @property
    def first(self) -> Runbook:
        """The first runbook: settings all runbooks share (the alert channel) are read from it."""
        return next(iter(self.books.values()))

    def get(self, service: str) -> Runbook:
        """The runbook of `service`; `UnknownTargetError` listing the services (and the files that
        could not be read) otherwise.
        """
        book = self.books.get(service)
        if book is None:
            unreadable = "".join(f"\n{error.user_message}" for error in self.broken.values())
            raise UnknownTargetError(f"Unknown service `{service}`. Services: {self.service_list()}.{unreadable}")
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
    return [Path(file) for file, _, _ in _scan(path)]


def _scan(folder: Path) -> list[tuple[str, int, int]]:
    """A folder's runbook files in name order, each with its modification time and size, in one
    pass over the folder (every command checks them: one `stat` per file, no more).
    """
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.endswith(RUNBOOK_SUFFIXES):
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
                found.append((entry.name, entry.path, stat.st_mtime_ns, stat.st_size))
            except OSError:
                found.append((entry.name, entry.path, -1, -1))
    if not found:
        raise RunbookError(str(folder), [("(folder)", "holds no *.yaml runbook")])
    return [(file, mtime, size) for _, file, mtime, size in sorted(found)]


RESERVED_WORDS = ("status", "history", "cancel", "help")  # `/rollback` subcommands
_CACHE: dict[Path, tuple[list[tuple[str, int, int]], Catalog]] = {}


def load_catalog(path: Path) -> Catalog:
    """Every runbook `path` names, each validated, re-read only when a file changes. A file path is
    one runbook and its errors are raised. In a folder, a file that does not load, repeats another's
    service, names its service like a phase or command word, or has another `alert_channel` is left
    out, logged and listed in `broken`; only a folder where nothing loads raises.
    """
    if not path.is_dir():
        book = load_runbook_cached(path)
        return Catalog({book.service: book})
    versions = _scan(path)
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == versions:
        return cached[1]
    files = [Path(file) for file, _, _ in versions]
    books: dict[str, Runbook] = {}
    broken: dict[str, RunbookError] = {}
    where: dict[str, Path] = {}
    for file in files:
        try:
            book = load_runbook_cached(file)
        except RunbookError as unreadable:
            broken[str(file)] = unreadable
            continue
        problem = _conflict(file, book, books, where)
        if problem is not None:
            broken[str(file)] = problem
            continue
        books[book.service], where[book.service] = book, file
    if len(files) > 1:  # commands start with the service's name: it must not read as anything else
        phases = {phase for book in books.values() for phase in book.phases}
        for service in [s for s in books if s in RESERVED_WORDS or s in phases]:
            broken[str(where[service])] = RunbookError(str(where[service]), [("service", (
                f"`{service}` is also a command word or a phase name: `/rollback <service> <phase>` "
                "could not tell them apart"))])  # fmt: skip
            del books[service]
        books = {service: book.named_in_commands() for service, book in books.items()}
    for name, error in broken.items():
        logger.error("runbook %s is not used: %s", name, error.user_message)
    if not books:
        raise RunbookError(str(path), [(name, error.user_message) for name, error in broken.items()])
    catalog = Catalog(books, broken)
    _CACHE[path] = (versions, catalog)
    return catalog


def _conflict(path: Path, book: Runbook, books: dict[str, Runbook], where: dict[str, Path]) -> RunbookError | None:
    """Why `book` (from `path`) cannot join the runbooks already accepted from its folder, if it cannot."""
    if book.service in books:
        problem = f"`{book.service}` is already the service of {where[book.service]}"
        return RunbookError(str(path), [("service", problem)])
    first = next(iter(books.values()), None)
    if first is not None and book.alert_channel != first.alert_channel:
        return RunbookError(str(path), [("alert_channel", f"`{book.alert_channel}` differs from "
                                         f"{where[first.service]}'s: the runbooks of one deployment share one "
                                         "alert channel")])  # fmt: skip
    return None


class HasSettings(Protocol):
    """Anything carrying the process's settings (a `jobs.context.Context`)."""

    @property
    def settings(self) -> Settings: ...


def catalog(ctx: HasSettings) -> Catalog:
    """The catalog named by the process's `RUNBOOK` setting."""
    return load_catalog(ctx.settings.runbook)


def runbook_for(ctx: HasSettings, service: str) -> Runbook:
    """The runbook of `service` (the service a run, alert or incident names)."""
    return catalog(ctx).get(service)


def find_runbook(ctx: HasSettings, service: str) -> Runbook | None:
    """`runbook_for`, or None (logged) when the runbooks cannot be read or do not have `service`:
    paging, reminders and reports then use their defaults rather than fail.
    """
    try:
        return runbook_for(ctx, service)
    except (RunbookError, UnknownTargetError) as error:
        logger.error("no runbook for %s; defaults are used: %s", service, error.user_message)
        return None
