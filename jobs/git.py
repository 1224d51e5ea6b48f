"""The git operations behind `git.checkpoint` and `git.reset_to_checkpoint`."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

from jobs.checkpoints import Checkpoint
from jobs.exceptions import RollbotError
from jobs.process import public_environment
from jobs.settings import PRIVATE_ENV_PREFIXES, SETTING_NAMES

GIT_TIMEOUT_SECONDS = 120.0
# Identity for the commits `git stash` makes, used only when the repository has none configured.
_STASH_IDENTITY = {
    "GIT_AUTHOR_NAME": "rollbot",
    "GIT_AUTHOR_EMAIL": "rollbot@localhost",
    "GIT_COMMITTER_NAME": "rollbot",
    "GIT_COMMITTER_EMAIL": "rollbot@localhost",
}


class GitError(RollbotError):
    """A git command failed; the message holds the command and git's own words."""


def git(repo: Path, *args: str, timeout: float = GIT_TIMEOUT_SECONDS, env: dict[str, str] | None = None) -> str:
    """Run `git args…` in `repo` and return its stdout, stripped; `GitError` when it fails."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**public_environment(set(SETTING_NAMES), PRIVATE_ENV_PREFIXES), **(env or {})},
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as error:
        raise GitError(f"git {' '.join(args)} took longer than {timeout:.0f}s") from error
    except OSError as error:
        raise GitError(f"cannot run git in {repo}: {error.strerror}") from error
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def _exists(repo: Path, ref: str) -> bool:
    try:
        git(repo, "rev-parse", "--verify", "--quiet", ref)
    except GitError:
        return False
    return True


def head(repo: Path) -> str:
    """The commit at HEAD."""
    return git(repo, "rev-parse", "HEAD")


def dirty_paths(repo: Path) -> list[str]:
    """Uncommitted changes (modified, staged, untracked) as `git status --porcelain` lines."""
    return [line for line in git(repo, "status", "--porcelain").splitlines() if line.strip()]


def create_checkpoint(
    repo: Path,
    prefix: str,
    branch: str | None,
    now: datetime,
    run_id: str | None = None,
    actor: str | None = None,
) -> tuple[Checkpoint, list[str]]:
    """Tag HEAD `<prefix>-YYYYMMDD` (UTC; `-2`, `-3`… when taken again that day) and, with `branch`,
    create and check out `<branch>-YYYYMMDD` with the same suffix. Returns the checkpoint and
    notes for the run output.
    """
    day = f"{now:%Y%m%d}"
    suffix = 1
    while True:
        tail = day if suffix == 1 else f"{day}-{suffix}"
        tag, branch_name = f"{prefix}-{tail}", f"{branch}-{tail}" if branch else None
        taken = _exists(repo, f"refs/tags/{tag}") or (branch_name and _exists(repo, f"refs/heads/{branch_name}"))
        if not taken:
            break
        suffix += 1
    notes = []
    if dirty := dirty_paths(repo):
        notes.append(f"working tree has {len(dirty)} uncommitted change(s); they are not part of the checkpoint")
    commit = head(repo)
    git(repo, "tag", tag, commit)
    notes.append(f"tagged {tag} at {commit[:12]}")
    if branch_name:
        git(repo, "checkout", "-b", branch_name)
        notes.append(f"created and checked out branch {branch_name}")
    checkpoint = Checkpoint(tag=tag, commit=commit, branch=branch_name, taken_at=now, run_id=run_id, actor=actor)
    return checkpoint, notes


def reset_to_checkpoint(repo: Path, main_branch: str, checkpoint: Checkpoint, run_id: str) -> list[str]:
    """Check out `main_branch` and hard-reset it to the checkpoint's commit. Uncommitted changes
    are stashed first (never lost, never blocking the rollback). Returns notes for the run output.
    """
    notes = []
    git(repo, "cat-file", "-e", f"{checkpoint.commit}^{{commit}}")
    try:
        tag_commit = git(repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{checkpoint.tag}^{{commit}}")
    except GitError:
        tag_commit = None
    if tag_commit != checkpoint.commit:
        moved = "is missing" if tag_commit is None else f"now points at {tag_commit[:12]}"
        notes.append(f"tag {checkpoint.tag} {moved}; resetting to the recorded commit {checkpoint.commit[:12]}")
    if dirty := dirty_paths(repo):
        identity = {} if _has_identity(repo) else _STASH_IDENTITY
        git(
            repo,
            "stash",
            "push",
            "--include-untracked",
            "-m",
            f"rollbot: before rollback {run_id}",
            env=identity,
        )
        notes.append(f"stashed {len(dirty)} uncommitted change(s) as stash@{{0}} ('rollbot: before rollback {run_id}')")
    git(repo, "checkout", main_branch)
    git(repo, "reset", "--hard", checkpoint.commit)
    now_at = head(repo)
    if now_at != checkpoint.commit:
        raise GitError(f"HEAD is {now_at[:12]} after the reset, expected {checkpoint.commit[:12]}")
    notes.append(f"{main_branch} reset to {checkpoint.tag} ({checkpoint.commit[:12]})")
    return notes


def _has_identity(repo: Path) -> bool:
    try:
        return bool(git(repo, "config", "user.email"))
    except GitError:
        return False
