"""Recorded checkpoints: which tag and commit a phase's rollback resets to, per service."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from redis import Redis

from jobs.core.keys import Keys

HISTORY_LENGTH = 20


class Checkpoint(BaseModel):
    """A tag taken by `git.checkpoint`, with the commit it pointed at when taken."""

    tag: str
    commit: str
    branch: str | None = None
    taken_at: datetime
    run_id: str | None = None
    actor: str | None = None


def parse_checkpoint(raw: bytes | str | None) -> Checkpoint | None:
    """A checkpoint as Redis holds it (None for a missing key)."""
    return Checkpoint.model_validate_json(raw) if raw is not None else None


class CheckpointStore:
    """The latest checkpoint of each (service, phase) in Redis."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    def record(self, service: str, phase: str, checkpoint: Checkpoint) -> Checkpoint | None:
        """Make `checkpoint` the one rollbacks of `phase` reset to; returns the one it replaces,
        which is kept in the phase's history (the last 20).
        """
        key = self._keys.checkpoint(service, phase)
        previous = self._redis.getset(key, checkpoint.model_dump_json())
        if previous is None:
            return None
        history = self._keys.checkpoint_history(service, phase)
        with self._redis.pipeline() as pipe:
            pipe.lpush(history, previous)
            pipe.ltrim(history, 0, HISTORY_LENGTH - 1)
            pipe.execute()
        return Checkpoint.model_validate_json(previous)

    def get(self, service: str, phase: str) -> Checkpoint | None:
        """The recorded checkpoint of `phase`, or None when no preflight recorded one."""
        return parse_checkpoint(self._redis.get(self._keys.checkpoint(service, phase)))

    def restore(self, service: str, phase: str, current: Checkpoint, older: list[Checkpoint]) -> bool:
        """Put a checkpoint (and the ones before it, newest first) back when the phase has none in
        Redis; True when this call restored it, False when one was already there.
        """
        if not self._redis.set(self._keys.checkpoint(service, phase), current.model_dump_json(), nx=True):
            return False
        history = self._keys.checkpoint_history(service, phase)
        if older and not self._redis.exists(history):
            with self._redis.pipeline() as pipe:
                pipe.rpush(history, *(c.model_dump_json() for c in older[:HISTORY_LENGTH]))
                pipe.ltrim(history, 0, HISTORY_LENGTH - 1)
                pipe.execute()
        return True
