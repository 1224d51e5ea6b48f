"""The git operations behind `git.checkpoint` and `git.reset_to_checkpoint`.

Every git command runs like a command step (`jobs.process.run_process`): in its own process group,
killed with its hooks at the step's deadline or when the run is cancelled.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from jobs.core.exceptions import GitError, GitStopped
from jobs.core.settings import PRIVATE_ENV_PREFIXES, SETTING_NAMES
from jobs.host.process import public_environment, run_process
from jobs.records.checkpoints import Checkpoint

GIT_TIMEOUT_SECONDS = 120.0  # a git command outside a step (HEAD before and after a run)
# Identity for the commits `git stash` makes, used only when the repository has none configured.
_STASH_IDENTITY = {
    "GIT_AUTHOR_NAME": "rollbot",
    "GIT_AUTHOR_EMAIL": "rollbot@localhost",
    "GIT_COMMITTER_NAME": "rollbot",
    "GIT_COMMITTER_EMAIL": "rollbot@localhost",
}


@dataclass(frozen=True)
class GitLimits:
    """How a step's git commands run: with the step's environment (it marks them as the run's), until
    the step's `deadline` (monotonic), stopped when `should_stop()` names someone; `on_start(pgid)`
    hears of a command that runs longer than a moment (as a command step's process group).
    """

    env: dict[str, str]
    deadline: float
    should_stop: Callable[[], str | None] = lambda: None
    on_start: Callable[[int], None] = field(default=lambda _pgid: None)


def _default_limits(timeout: float) -> GitLimits:
    env = public_environment(set(SETTING_NAMES), PRIVATE_ENV_PREFIXES)
    return GitLimits(env=env, deadline=time.monotonic() + timeout)


def git(
    repo: Path,
    *args: str,
    timeout: float = GIT_TIMEOUT_SECONDS,
    env: dict[str, str] | None = None,
    limits: GitLimits | None = None,
) -> str:
    """Run `git args…` in `repo` and return its stdout, stripped; `GitError` when it fails,
    `GitStopped` when it was killed at the deadline (`limits.deadline`, else `timeout` from now)
    or on a cancel request.
    """
    limits = limits or _default_limits(timeout)
    command = f"git {' '.join(args)}"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        result = run_process(
            ["git", *args],
            cwd=repo,
            env=limits.env | (env or {}),
            output=out,
            stderr=err,
            deadline=limits.deadline,
            should_stop=limits.should_stop,
            on_start=limits.on_start,
        )
        stdout, stderr = _read(out), _read(err)
    if result.ending == "deadline":
        raise GitStopped(f"{command} took longer than its time limit ({result.duration:.0f}s)", "deadline", None)
    if result.ending == "stopped":
        raise GitStopped(f"{command} stopped: cancelled by {result.stop_reason}", "stopped", result.stop_reason)
    if result.exit_code == 127 and stdout.startswith("cannot start "):  # run_process could not start it
        raise GitError(f"cannot run git in {repo}: {stdout.partition(': ')[2].strip()}")
    if result.exit_code != 0:
        raise GitError(f"{command} failed: {stderr.strip() or stdout.strip()}")
    return stdout.strip()


def _read(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode("utf-8", errors="replace")


def _exists(repo: Path, ref: str, limits: GitLimits | None = None) -> bool:
    try:
        git(repo, "rev-parse", "--verify", "--quiet", ref, limits=limits)
    except GitStopped:
        raise
    except GitError:
        return False
    return True


def head(repo: Path, limits: GitLimits | None = None) -> str:
    """The commit at HEAD."""
    return git(repo, "rev-parse", "HEAD", limits=limits)


def dirty_paths(repo: Path, limits: GitLimits | None = None) -> list[str]:
    """Uncommitted changes (modified, staged, untracked) as `git status --porcelain` lines."""
    return [line for line in git(repo, "status", "--porcelain", limits=limits).splitlines() if line.strip()]


def create_checkpoint(
    repo: Path,
    prefix: str,
    branch: str | None,
    now: datetime,
    run_id: str | None = None,
    actor: str | None = None,
    limits: GitLimits | None = None,
) -> tuple[Checkpoint, list[str]]:
    """Tag HEAD `<prefix>-YYYYMMDD` (UTC; `-2`, `-3`… when taken again that day) and, with `branch`,
    create and check out `<branch>-YYYYMMDD` with the same suffix. Returns the checkpoint and
    notes for the run output. Its git commands run under `limits` (see `GitLimits`).
    """
    notes: list[str] = []
    try:
        return _create_checkpoint(repo, prefix, branch, now, run_id, actor, limits, notes), notes
    except GitStopped as stopped:
        stopped.notes = notes
        raise


def _create_checkpoint(
    repo: Path,
    prefix: str,
    branch: str | None,
    now: datetime,
    run_id: str | None,
    actor: str | None,
    limits: GitLimits | None,
    notes: list[str],
) -> Checkpoint:
    day = f"{now:%Y%m%d}"
    suffix = 1
    while True:
        tail = day if suffix == 1 else f"{day}-{suffix}"
        tag, branch_name = f"{prefix}-{tail}", f"{branch}-{tail}" if branch else None
        taken = _exists(repo, f"refs/tags/{tag}", limits) or (
            branch_name and _exists(repo, f"refs/heads/{branch_name}", limits)
        )
        if not taken:
            break
        suffix += 1
    if dirty := dirty_paths(repo, limits):
        notes.append(f"working tree has {len(dirty)} uncommitted change(s); they are not part of the checkpoint")
    commit = head(repo, limits)
    git(repo, "tag", tag, commit, limits=limits)
    notes.append(f"tagged {tag} at {commit[:12]}")
    if branch_name:
        git(repo, "checkout", "-b", branch_name, limits=limits)
        notes.append(f"created and checked out branch {branch_name}")
    return Checkpoint(tag=tag, commit=commit, branch=branch_name, taken_at=now, run_id=run_id, actor=actor)


def reset_to_checkpoint(
    repo: Path, main_branch: str, checkpoint: Checkpoint, run_id: str, limits: GitLimits | None = None
) -> list[str]:
    """Check out `main_branch` and hard-reset it to the checkpoint's commit. Uncommitted changes
    are stashed first (never lost, never blocking the rollback). Returns notes for the run output.
    Its git commands run under `limits` (see `GitLimits`).
    """
    notes: list[str] = []
    try:
        _reset_to_checkpoint(repo, main_branch, checkpoint, run_id, limits, notes)
    except GitStopped as stopped:
        stopped.notes = notes
        raise
    return notes


def _reset_to_checkpoint(
    repo: Path, main_branch: str, checkpoint: Checkpoint, run_id: str, limits: GitLimits | None, notes: list[str]
) -> None:
    git(repo, "cat-file", "-e", f"{checkpoint.commit}^{{commit}}", limits=limits)
    try:
        tag_commit: str | None = git(
            repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{checkpoint.tag}^{{commit}}", limits=limits
        )
    except GitStopped:
        raise
    except GitError:
        tag_commit = None
    if tag_commit != checkpoint.commit:
        moved = "is missing" if tag_commit is None else f"now points at {tag_commit[:12]}"
        notes.append(f"tag {checkpoint.tag} {moved}; resetting to the recorded commit {checkpoint.commit[:12]}")
    if dirty := dirty_paths(repo, limits):
        identity = {} if _has_identity(repo, limits) else _STASH_IDENTITY
        message = f"rollbot: before rollback {run_id}"
        git(repo, "stash", "push", "--include-untracked", "-m", message, env=identity, limits=limits)
        notes.append(f"stashed {len(dirty)} uncommitted change(s) as stash@{{0}} ('{message}')")
    git(repo, "checkout", main_branch, limits=limits)
    git(repo, "reset", "--hard", checkpoint.commit, limits=limits)
    now_at = head(repo, limits)
    if now_at != checkpoint.commit:
        raise GitError(f"HEAD is {now_at[:12]} after the reset, expected {checkpoint.commit[:12]}")
    notes.append(f"{main_branch} reset to {checkpoint.tag} ({checkpoint.commit[:12]})")


def _has_identity(repo: Path, limits: GitLimits | None) -> bool:
    try:
        return bool(git(repo, "config", "user.email", limits=limits))
    except GitStopped:
        raise
    except GitError:
        return False
