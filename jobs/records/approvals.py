"""Two-person approval requests as stored in Redis (the rules are in `jobs.approvals`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from redis import Redis
from redis.client import Pipeline

from jobs.core.keys import Keys
from jobs.core.redis_values import watched_update

ApprovalState = Literal["pending", "approved", "rejected", "expired"]
APPROVAL_TTL_SECONDS = 30 * 86400


class Approval(BaseModel):
    """A request for a second approval, and what became of it."""

    run_id: str  # the run it starts (reserved now, created on approval)
    service: str
    phase: str
    level: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    state: ApprovalState = "pending"
    decided_by: str | None = None
    decided_at: datetime | None = None
    checkpoint_tag: str | None = None
    checkpoint_commit: str | None = None
    parent_run_id: str | None = None
    alert_id: str | None = None
    channel: str | None = None
    ts: str | None = None


class ApprovalStore:
    """Approvals as JSON values in Redis, by the run id they reserve."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    def get(self, run_id: str) -> Approval | None:
        """The approval reserving `run_id`, if any."""
        raw = self._redis.get(self._keys.approval(run_id))
        return Approval.model_validate_json(raw) if raw is not None else None

    def create(self, approval: Approval) -> None:
        """Store a new approval request."""
        self._redis.set(self._keys.approval(approval.run_id), approval.model_dump_json(), ex=APPROVAL_TTL_SECONDS)

    def update(self, run_id: str, change: Callable[[Approval], bool | None]) -> Approval | None:
        """Apply `change` atomically (it returns False to leave the approval as is)."""
        name = self._keys.approval(run_id)

        def read(pipe: Pipeline) -> Approval | None:
            raw = pipe.get(name)
            return Approval.model_validate_json(raw) if raw is not None else None

        def write(pipe: Pipeline, approval: Approval) -> None:
            pipe.set(name, approval.model_dump_json(), ex=APPROVAL_TTL_SECONDS)

        return watched_update(self._redis, name, read, change, write)
