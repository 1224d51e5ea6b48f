"""Names of every Redis key and RQ queue rollbot owns, all under `ROLLBOT_NAMESPACE`."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A worker listens in this order: rollbacks first, then the quick Slack deliveries, then the rest.
QUEUE_NAMES = ("rollback", "notify", "validation", "monitor")


@dataclass(frozen=True)
class Keys:
    """Key builder for one namespace."""

    namespace: str

    def queue(self, name: str) -> str:
        """RQ queue name (RQ stores it as `rq:queue:<this>`)."""
        return f"{self.namespace}:{name}"

    def job(self, purpose: str, subject: str) -> str:
        """An RQ job id for rollbot's helper jobs (`notify`, `pd`, `remind`, `escalate`), namespaced."""
        return re.sub(r"[^A-Za-z0-9_-]", "-", f"{self.namespace}-{purpose}-{subject}")  # RQ's job id alphabet

    def run(self, run_id: str) -> str:
        """The run record (JSON)."""
        return f"{self.namespace}:run:{run_id}"

    def run_log(self, run_id: str) -> str:
        """The run's redacted output lines (a capped list)."""
        return f"{self.namespace}:run:{run_id}:log"

    def run_lease(self, run_id: str) -> str:
        """Present while the process executing the run is alive (expires on its own otherwise)."""
        return f"{self.namespace}:run:{run_id}:lease"

    def run_slack(self, run_id: str) -> str:
        """What of the run's Slack message was delivered (channel, ts, replies, log, lateness)."""
        return f"{self.namespace}:run:{run_id}:slack"

    def run_verified(self, run_id: str) -> str:
        """Checklist items people verified for a validation run (index → who and when)."""
        return f"{self.namespace}:run:{run_id}:verified"

    def request(self, token: str) -> str:
        """Set once when a confirm (or retry/escalate) click is acted upon: double clicks do nothing."""
        return f"{self.namespace}:request:{token}"

    def journal_applied(self, run_id: str) -> str:
        """How far the run's local journal was written back to Redis (the last entry's index)."""
        return f"{self.namespace}:run:{run_id}:journal"

    def run_cancel(self, run_id: str) -> str:
        """Set when someone asked to cancel the run; holds who asked."""
        return f"{self.namespace}:run:{run_id}:cancel"

    @property
    def runs(self) -> str:
        """Sorted set of every run id by creation time."""
        return f"{self.namespace}:runs"

    @property
    def active_runs(self) -> str:
        """Set of run ids that are queued or running."""
        return f"{self.namespace}:runs:active"

    def service_lock(self, service: str, lane: str = "change") -> str:
        """One run at a time per service and lane; the value is the holder's run id."""
        suffix = "" if lane == "change" else f":{lane}"
        return f"{self.namespace}:lock:service:{service}{suffix}"

    def enqueue_guard(self, service: str) -> str:
        """Held for a moment while a run is checked against the busy ones and recorded."""
        return f"{self.namespace}:lock:enqueue:{service}"

    def checkpoint_history(self, service: str, phase: str) -> str:
        """Checkpoints the phase had before its current one, newest first."""
        return f"{self.namespace}:checkpoint:{service}:{phase}:history"

    def checkpoint(self, service: str, phase: str) -> str:
        """The phase's recorded checkpoint (tag, commit, when, by whom)."""
        return f"{self.namespace}:checkpoint:{service}:{phase}"

    def incident(self, key: str) -> str:
        """An incident rollbot opened (JSON), by its PagerDuty dedup key."""
        return f"{self.namespace}:incident:{key}"

    def incident_by_pd_id(self, pd_id: str) -> str:
        """PagerDuty's incident id → rollbot's incident key."""
        return f"{self.namespace}:incident-id:{pd_id}"

    def pd_event(self, event_id: str) -> str:
        """A PagerDuty event waiting to be (or already) delivered (JSON)."""
        return f"{self.namespace}:pd-event:{event_id}"

    def pd_webhook_seen(self, event_id: str) -> str:
        """Set when a PagerDuty webhook event was handled: a redelivery is shown once."""
        return f"{self.namespace}:pd-webhook:{event_id}"

    def run_escalated(self, run_id: str) -> str:
        """Which of a run's escalation moments (`started`, `ended`) were acted upon."""
        return f"{self.namespace}:run:{run_id}:escalated"

    def alert(self, alert_id: str) -> str:
        """An alert (JSON): a health breach or a matched alert message, and its card."""
        return f"{self.namespace}:alert:{alert_id}"

    def alert_count(self, alert_id: str) -> str:
        """How many times the alert was seen (a counter: 1,000 duplicates are 1,000 INCRs)."""
        return f"{self.namespace}:alert:{alert_id}:count"

    def alert_card_due(self, alert_id: str) -> str:
        """Present while an update of the alert's card is scheduled (at most one per second)."""
        return f"{self.namespace}:alert:{alert_id}:card-due"

    def alert_card_sent(self, alert_id: str) -> str:
        """When the alert's card was last sent to Slack (the next update waits a second after it)."""
        return f"{self.namespace}:alert:{alert_id}:card-sent"

    def alert_fingerprint(self, fingerprint: str) -> str:
        """The open alert with this fingerprint; expires with the rule's cooldown."""
        return f"{self.namespace}:alert-fingerprint:{fingerprint}"

    def silence(self, fingerprint: str) -> str:
        """Present while alerts with this fingerprint are silenced; holds who silenced them."""
        return f"{self.namespace}:silence:{fingerprint}"

    def auto_rollback_cooldown(self, service: str) -> str:
        """Present for `cooldown` after an automated rollback: no second one by itself until it expires."""
        return f"{self.namespace}:cooldown:{service}"

    def monitor(self, service: str, source: str) -> str:
        """The monitor's state of a service's health source: its measurements, errors in a row, open alert."""
        return f"{self.namespace}:monitor:{service}/{source}"

    def monitor_chain(self, name: str) -> str:
        """The current job chain `name` (a health source's polls: `service/source`; older chains
        stop) and when it runs next."""
        return f"{self.namespace}:monitor:{name}:chain"

    def approval(self, run_id: str) -> str:
        """A two-person approval request (JSON), by the run id it reserves."""
        return f"{self.namespace}:approval:{run_id}"

    @property
    def held_messages(self) -> str:
        """Messages held until the alert channel's ID is known (a list of JSON events)."""
        return f"{self.namespace}:held-messages"

    @property
    def alert_channel_id(self) -> str:
        """The alert channel's ID as Slack answered it (`ALERT_CHANNEL` may be a `#name`)."""
        return f"{self.namespace}:alert-channel-id"

    def step_durations(self, service: str, phase: str, level: str, step: str) -> str:
        """The last successful durations of one step (seconds, newest first), real runs and rehearsals."""
        return f"{self.namespace}:durations:{service}:{phase}:{level}:{step}"

    def rehearsal_verdict(self, service: str, phase: str, level: str) -> str:
        """The last rehearsal of a level (JSON: run, when, ready, reasons, predicted duration)."""
        return f"{self.namespace}:rehearsal:{service}:{phase}:{level}"

    def rehearsal_due(self, service: str, phase: str, level: str) -> str:
        """Present while a scheduled rehearsal of the level is queued or running (never two at once)."""
        return f"{self.namespace}:rehearsal:{service}:{phase}:{level}:due"

    @property
    def audit(self) -> str:
        """The audit stream."""
        return f"{self.namespace}:audit"

    @property
    def home_viewers(self) -> str:
        """Sorted set of Slack users by when they last opened rollbot's App Home (refreshed for an hour)."""
        return f"{self.namespace}:home:viewers"

    @property
    def home_due(self) -> str:
        """Present while a refresh of the open App Homes is scheduled (at most one per second)."""
        return f"{self.namespace}:home:due"
