"""Checkpoints recorded in the service's own git repository, the source of truth Redis caches.

Each (service, phase) has a ref `refs/rollbot/checkpoints/<service>/<phase>` pointing at a chain of
small commits (empty tree), one per recorded checkpoint, newest first: its message is the
checkpoint record as JSON, its first parent the record it replaced. So the history survives
whatever happens to Redis, travels with `git clone --mirror`, and is read with nothing but git.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import ValidationError
from redis.exceptions import RedisError

from jobs.core.exceptions import GitError
from jobs.host.git import git
from jobs.records.checkpoints import HISTORY_LENGTH, Checkpoint, CheckpointStore

logger = logging.getLogger(__name__)

REF_PREFIX = "refs/rollbot/checkpoints"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "rollbot",
    "GIT_AUTHOR_EMAIL": "rollbot@localhost",
    "GIT_COMMITTER_NAME": "rollbot",
    "GIT_COMMITTER_EMAIL": "rollbot@localhost",
}


def ref_name(service: str, phase: str) -> str:
    """The ref holding the checkpoint records of `phase` of `service`."""
    return f"{REF_PREFIX}/{service}/{phase}"


def _current(repo: Path, ref: str) -> str | None:
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", ref) or None
    except GitError:
        return None


def write(repo: Path, service: str, phase: str, checkpoint: Checkpoint) -> None:
    """Record `checkpoint` as the phase's current one in `repo` (the previous one stays in the
    chain). Compare-and-swap on the ref: two writers never lose each other's record.
    """
    ref = ref_name(service, phase)
    for _ in range(5):
        old = _current(repo, ref)
        tree = git(repo, "hash-object", "-t", "tree", "-w", "--stdin")  # the empty tree, stored
        parents = ["-p", old] if old else []
        message = checkpoint.model_dump_json()
        new = git(repo, "commit-tree", tree, *parents, "-m", message, env=_IDENTITY)
        try:
            git(repo, "update-ref", "-m", f"rollbot checkpoint {checkpoint.tag}", ref, new, old or "")
        except GitError:
            continue  # someone else moved the ref between our read and our write: read again
        return
    raise GitError(f"could not record checkpoint {checkpoint.tag} in {ref}: the ref kept changing")


def _parse(message: str) -> Checkpoint | None:
    try:
        return Checkpoint.model_validate_json(message)
    except ValidationError:
        logger.warning("a checkpoint record in git is not readable: %.200s", message)
        return None


def read(repo: Path, service: str, phase: str) -> Checkpoint | None:
    """The phase's current checkpoint recorded in `repo`, or None (no record, or no repository)."""
    found = history(repo, service, phase, count=1)
    return found[0] if found else None


def history(repo: Path, service: str, phase: str, count: int = HISTORY_LENGTH + 1) -> list[Checkpoint]:
    """The phase's checkpoint records in `repo`, newest first (the current one first)."""
    ref = ref_name(service, phase)
    if not repo.is_dir() or _current(repo, ref) is None:
        return []
    try:
        out = git(repo, "log", "--first-parent", f"--max-count={count}", "--format=%B%x00", ref)
    except GitError as error:
        logger.warning("checkpoint records of %s/%s unreadable in %s: %s", service, phase, repo, error)
        return []
    records = [_parse(chunk.strip()) for chunk in out.split("\x00") if chunk.strip()]
    return [record for record in records if record is not None]


class RecordedCheckpoints:
    """Checkpoints as every process reads them: Redis first (fast, shared), the service's git
    repository behind it. Given the repository, a checkpoint Redis lost (a restart without
    persistence, a failover to an empty replica, `FLUSHALL`) is read from git and put back, and a
    new one is written to git before Redis. Without it (the web process, which never runs git)
    only Redis is read.
    """

    def __init__(self, store: CheckpointStore) -> None:
        self._store = store

    def get(self, service: str, phase: str, repo: Path | None = None) -> Checkpoint | None:
        """The phase's recorded checkpoint, or None when neither Redis nor git has one."""
        if repo is None:
            return self._store.get(service, phase)
        try:
            cached = self._store.get(service, phase)
        except RedisError as error:
            logger.warning("Redis unavailable (%s): reading the %s/%s checkpoint from git", error, service, phase)
            return read(repo, service, phase)
        if cached is not None:
            return cached
        return self.restore(repo, service, phase)

    def restore(self, repo: Path, service: str, phase: str) -> Checkpoint | None:
        """Put the phase's checkpoint (and its history) back into Redis from git, if Redis has none."""
        found = history(repo, service, phase)
        if not found:
            return None
        if self._store.restore(service, phase, found[0], found[1:]):
            logger.warning(
                "checkpoint %s of %s/%s was missing in Redis: restored from git", found[0].tag, service, phase
            )
        return self._store.get(service, phase) or found[0]

    def record(self, service: str, phase: str, checkpoint: Checkpoint, repo: Path | None = None) -> Checkpoint | None:
        """Make `checkpoint` the phase's current one, in git (with `repo`) and then Redis. Returns
        the checkpoint it replaces (which stays in the history), as git or Redis knew it.
        """
        previous = None
        if repo is not None:
            previous = read(repo, service, phase)
            write(repo, service, phase, checkpoint)
        replaced = self._store.record(service, phase, checkpoint)
        return replaced or previous

    def local(self, repo: Path, service: str, phase: str) -> Checkpoint | None:
        """The phase's checkpoint from git alone (no Redis: the break-glass path without it)."""
        return read(repo, service, phase)

    def record_local(self, repo: Path, service: str, phase: str, checkpoint: Checkpoint) -> Checkpoint | None:
        """Record `checkpoint` in git alone (Redis does not answer); returns the one it replaces."""
        previous = read(repo, service, phase)
        write(repo, service, phase, checkpoint)
        return previous
