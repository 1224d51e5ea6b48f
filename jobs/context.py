"""What every procedure needs, passed in explicitly: Redis, key names, settings, clock, redactor,
the stores, the queues and the outside clients (Slack, PagerDuty). The composition root: built
once per process by `jobs.factory`; domain code takes a `Context` and never builds a client itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from redis import Redis
from rq import Queue
from slack_sdk import WebClient

from jobs.core.keys import QUEUE_NAMES, Keys
from jobs.core.redaction import Redactor
from jobs.core.settings import Settings
from jobs.host.checkpoint_refs import RecordedCheckpoints
from jobs.records import audit
from jobs.records.alerts import AlertStore
from jobs.records.checkpoints import CheckpointStore
from jobs.records.incidents import IncidentStore
from jobs.records.runs import RunStore, utcnow

if TYPE_CHECKING:  # the client is imported where one is built (jobs.factory), not by every process
    from pagerduty import EventsApiV2Client, RestApiV2Client


def _not_configured(*_args: object) -> Any:
    raise RuntimeError("this Context was built without outside clients (see jobs.factory.get_context)")


@dataclass(frozen=True)
class Clients:
    """How the process reaches the outside world; each is built once per process by the factory."""

    slack: Callable[[], WebClient] = _not_configured
    pagerduty_events: Callable[[], EventsApiV2Client | None] = _not_configured
    pagerduty_rest: Callable[[str | None], RestApiV2Client | None] = _not_configured
    redis_probe: Callable[[], Redis] = _not_configured  # a fail-fast client: does Redis answer again?


@dataclass(frozen=True)
class Context:
    """Connections and settings of one process (built by `jobs.factory.get_context`)."""

    redis: Redis
    keys: Keys
    settings: Settings
    redactor: Redactor
    clock: Callable[[], datetime] = field(default=utcnow)
    clients: Clients = field(default_factory=Clients)

    @property
    def slack(self) -> WebClient:
        """The Slack Web API client (the bot token, `SLACK_API_URL`, retries)."""
        return self.clients.slack()

    def pagerduty_events(self) -> EventsApiV2Client | None:
        """The Events API v2 client, or None when paging is not configured."""
        return self.clients.pagerduty_events()

    def pagerduty_rest(self, from_email: str | None) -> RestApiV2Client | None:
        """The REST API v2 client acting as `from_email`, or None without an API token."""
        return self.clients.pagerduty_rest(from_email)

    def queue(self, name: str) -> Queue:
        """One of rollbot's RQ queues (`rollback`, `notify`, `validation`, `monitor`) on this Redis."""
        if name not in QUEUE_NAMES:
            raise ValueError(f"unknown queue {name!r}")
        return Queue(self.keys.queue(name), connection=self.redis)

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
