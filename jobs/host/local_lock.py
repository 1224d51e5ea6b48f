"""One run per service and lane on this host, without Redis: an `flock` in the repository's git dir.

Every run takes it as well as the Redis lock, so a run made while Redis did not answer and a run
made through Redis never overlap on the same checkout. The kernel drops it when the process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from jobs.core.exceptions import GitError
from jobs.host.git import git


def lock_path(repo: Path, service: str, lane: str, fallback_dir: Path) -> Path:
    """`<git dir>/rollbot-<service>-<lane>.lock`, or one in `fallback_dir` when `repo` is no git repository."""
    name = f"rollbot-{service}-{lane}.lock"
    dot_git = repo / ".git"
    if dot_git.is_dir():
        return dot_git / name
    try:
        return Path(git(repo, "rev-parse", "--absolute-git-dir")) / name
    except GitError:
        fallback_dir.mkdir(parents=True, exist_ok=True)
        return fallback_dir / name


class LocalLock:
    """The host-wide lock of one service and lane."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self, run_id: str) -> str | None:
        """Take it without waiting for `run_id`. None when taken; else what holds it."""
        file = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another rollbot process"
            file.close()
            return holder
        file.seek(0)
        file.truncate()
        file.write(f"run {run_id} (pid {os.getpid()})\n")
        file.flush()
        self._file = file
        return None

    def release(self) -> None:
        """Let go (closing the file drops the lock)."""
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self._file.truncate(0)
        self._file.close()
        self._file = None
