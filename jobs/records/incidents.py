"""Incidents rollbot opened in PagerDuty, keyed by their dedup key, and who owns them now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from redis import Redis
from redis.client import Pipeline

from jobs.core.keys import Keys
from jobs.core.redis_values import optional_text, watched_update

IncidentStatus = Literal["pending", "triggered", "acknowledged", "resolved"]
SUMMARY_LIMIT = 1024  # PagerDuty's limit on `payload.summary` (longer ones are refused or cut by it)


def fit_summary(summary: str, limit: int = SUMMARY_LIMIT) -> str:
    """`summary` cut to `limit` characters, an ellipsis marking the cut."""
    return summary if len(summary) <= limit else summary[: max(0, limit - 1)] + "…"


def tagged(summary: str, key: str) -> str:
    """The incident title PagerDuty shows, ending in rollbot's tag (for people: incidents are matched
    by PagerDuty id or dedup key only), cut to PagerDuty's limit with the tag kept whole.
    """
    tag = f" [rollbot:{key}]"
    return fit_summary(summary, SUMMARY_LIMIT - len(tag)) + tag


class SentMail(BaseModel):
    """An e-mail rollbot sent about an incident: who had it sent (a Slack user, or `rollbot` at the
    deadline), when, to whom, and the message's `Message-ID`.
    """

    by: str
    at: datetime
    recipients: list[str]
    message_id: str


class Incident(BaseModel):
    """One PagerDuty incident as rollbot knows it."""

    key: str
    service: str
    title: str
    run_id: str | None = None
    status: IncidentStatus = "pending"
    opened_at: datetime
    paged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    pd_incident_id: str | None = None
    pd_url: str | None = None
    assignees: list[str] = []
    channel: str | None = None
    ts: str | None = None
    stakeholders_notified_by: str | None = None
    stakeholders_notified_at: datetime | None = None
    phone_escalation_posted: bool = False
    late_note_posted: bool = False
    last_event_at: datetime | None = None  # `occurred_at` of the last webhook event applied to its status
    earlier_pd_ids: list[str] = []  # PagerDuty incidents this key had before it was paged again
    # The communication clocks (jobs.comms).
    customer_facing_by: str | None = None  # who marked it customer-facing (`runbook`, `metric`, a Slack user)
    stakeholder_mail: SentMail | None = None
    executive_notified_at: datetime | None = None
    executive_mail: SentMail | None = None
    statuspage_id: str | None = None  # the Statuspage incident it published
    statuspage_resolved_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """Not resolved."""
        return self.status != "resolved"


class IncidentStore:
    """Incidents as JSON values in Redis."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    def get(self, key: str) -> Incident | None:
        """The incident with dedup key `key`, if rollbot opened one."""
        raw = self._redis.get(self._keys.incident(key))
        return Incident.model_validate_json(raw) if raw is not None else None

    def open(self, incident: Incident) -> Incident:
        """Store `incident` unless one with its key exists; returns the stored one."""
        self._redis.set(self._keys.incident(incident.key), incident.model_dump_json(), nx=True)
        stored = self.get(incident.key)
        return stored or incident

    def update(self, key: str, change: Callable[[Incident], bool | None]) -> Incident | None:
        """Apply `change` atomically (returns False to leave it as is); None when there is no such incident."""
        name = self._keys.incident(key)

        def read(pipe: Pipeline) -> Incident | None:
            raw = pipe.get(name)
            return Incident.model_validate_json(raw) if raw is not None else None

        def write(pipe: Pipeline, incident: Incident) -> None:
            pipe.set(name, incident.model_dump_json())
            if incident.pd_incident_id:
                pipe.set(self._keys.incident_by_pd_id(incident.pd_incident_id), incident.key)

        return watched_update(self._redis, name, read, change, write)

    def key_for_pd_id(self, pd_id: str) -> str | None:
        """Rollbot's key of a PagerDuty incident id it has seen."""
        return optional_text(self._redis.get(self._keys.incident_by_pd_id(pd_id)))
