"""What every procedure needs, passed in explicitly: Redis, key names, settings, clock, redactor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis import Redis

from jobs.core.keys import Keys
from jobs.core.redaction import Redactor
from jobs.core.settings import Settings
from jobs.host.checkpoint_refs import RecordedCheckpoints
from jobs.records import audit
from jobs.records.alerts import AlertStore
from jobs.records.checkpoints import CheckpointStore
from jobs.records.incidents import IncidentStore
from jobs.records.runs import RunStore, utcnow


@dataclass(frozen=True)
class Context:
    """Connections and settings of one process (built by `jobs.factory.get_context`)."""

    redis: Redis
    keys: Keys
    settings: Settings
    redactor: Redactor
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def runs(self) -> RunStore:
        """Run records."""
        return RunStore(self.redis, self.keys)

    @property
    def incidents(self) -> IncidentStore:
        """PagerDuty incidents rollbot opened."""
        return IncidentStore(self.redis, self.keys)

    @property
    def alerts(self) -> AlertStore:
        """Alerts (health breaches and matched alert messages)."""
        return AlertStore(self.redis, self.keys)

    @property
    def checkpoints(self) -> RecordedCheckpoints:
        """Recorded checkpoints (Redis, backed by each service's git repository)."""
        return RecordedCheckpoints(CheckpointStore(self.redis, self.keys))

    def audit(self, *, actor: str, action: str, result: str, run_id: str | None = None, **args: Any) -> None:
        """Append an audit entry with this process's retention, its secrets masked."""
        audit.record(
            self.redis,
            self.keys,
            actor=actor,
            action=action,
            result=result,
            run_id=run_id,
            args=args,
            retention_seconds=self.settings.rollbot_audit_retention,
            redactor=self.redactor,
        )
