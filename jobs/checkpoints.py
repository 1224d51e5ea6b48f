"""Recorded checkpoints: which tag and commit a phase's rollback resets to, per service."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from redis import Redis

from jobs.keys import Keys


class Checkpoint(BaseModel):
    """A tag taken by `git.checkpoint`, with the commit it pointed at when taken."""

    tag: str
    commit: str
    branch: str | None = None
    taken_at: datetime
    run_id: str | None = None
    actor: str | None = None


class CheckpointStore:
    """The latest checkpoint of each (service, phase) in Redis."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    def record(self, service: str, phase: str, checkpoint: Checkpoint) -> None:
        """Make `checkpoint` the one rollbacks of `phase` reset to."""
        self._redis.set(self._keys.checkpoint(service, phase), checkpoint.model_dump_json())

    def get(self, service: str, phase: str) -> Checkpoint | None:
        """The recorded checkpoint of `phase`, or None when no preflight recorded one."""
        raw = self._redis.get(self._keys.checkpoint(service, phase))
        return Checkpoint.model_validate_json(raw) if raw is not None else None
