"""What rollbot does about an alert: roll back (`auto`), suggest it, or say what it would have done
(`dry_run`); page PagerDuty with the evidence; keep the alert's card current (at most one update
per second); resolve when health recovers, or offer the next level when it does not.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from rq import Retry
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs.context import Context
from jobs.core.durations import format_duration
from jobs.core.exceptions import RollbotError, RunNotFoundError
from jobs.core.redis_values import optional_text, text
from jobs.core.task_names import Task
from jobs.pagerduty.escalation import page_incident, pages_on, resolve
from jobs.records.alerts import ALERT_TTL_SECONDS, Alert
from jobs.records.checkpoints import Checkpoint
from jobs.records.runs import RunRecord
from jobs.runbook.catalog import catalog
from jobs.runbook.model import Runbook
from jobs.runs.enqueue import Origin, enqueue_once
from jobs.runs.plan import select, with_checkpoint
from jobs.slack import blocks, cards
from jobs.slack import channel as alert_channels
from jobs.slack.notifier import alert_channel

logger = logging.getLogger(__name__)

AUTOMATION = "automation"  # the actor of runs rollbot starts by itself
CARD_UPDATE_SECONDS = 1.0  # at most one card update per second, whatever the alert rate
CARD_DUE_EXPIRY_MS = 60_000  # a scheduled update that never ran stops blocking new ones after this
CARD_RETRY = Retry(max=8, interval=[2, 5, 10, 30, 60, 120, 300, 600])
SILENCE_SECONDS = blocks.SILENCE_MINUTES * 60
_SLACK_ERRORS = (SlackApiError, SlackClientError, OSError)


def incident_key(alert: Alert) -> str:
    """The PagerDuty dedup key of an alert (its rollback shares it)."""
    return f"rollbot-{alert.service}-{alert.alert_id}"


def evidence(alert: Alert, url: str | None = None) -> dict[str, Any]:
    """`custom_details` of an alert's page: the numbers behind the decision."""
    return {
        "alert_id": alert.alert_id,
        "service": alert.service,
        "metric": alert.metric,
        "value": alert.value,
        "threshold": alert.threshold,
        "trend": alert.trend,
        "since": alert.first_seen.isoformat(),
        "source": f"{alert.origin}:{alert.source}",
        "health_url": url,
        "detail": alert.detail,
        "message": alert.message_text,
        "decision": alert.decision,
        "rollback_run": alert.run_id,
    }


def _would(alert: Alert, target: str) -> str:
    """What a dry run would have done."""
    if alert.kind == "blind":
        return "page PagerDuty (monitor blind)"
    rollback = f"roll back {target} automatically" if alert.mode == "auto" else f"suggest rolling back {target}"
    return f"page PagerDuty and {rollback}"


def _held_back(ctx: Context, alert: Alert, target: str) -> tuple[str, bool, bool] | None:
    """Why no rollback is started or suggested for this alert, if there is a reason: (decision
    line, False, page).
    """
    silenced_by = ctx.alerts.silenced_by(alert.fingerprint)
    reasons = [
        (alert.kind == "inconclusive", "Between the alert and rollback limits: a person decides.", False),
        (silenced_by is not None, f"🔕 Silenced by {blocks.who(silenced_by or '?')}: no page, no automatic rollback.",
         False),
        (alert.dry_run, f"🧪 Dry run: would {_would(alert, target)}. Nothing was done.", False),
        (alert.kind == "blind", "The health source cannot be read: nothing is rolled back while the monitor is blind.",
         True),
        (alert.run_id is not None, f"Rollback run `{alert.run_id}` already answers this alert.", True),
        (alert.phase is None, "No rollback is configured for this alert; `/rollback` starts one by hand.", True),
    ]  # fmt: skip
    return next(((text, False, page) for applies, text, page in reasons if applies), None)


def _decide(ctx: Context, alert: Alert, cooldown: float) -> tuple[str, bool, bool]:
    """What to do: (decision line, start a rollback now, page)."""
    target = f"{alert.phase} {alert.level or ''}".strip()
    held_back = _held_back(ctx, alert, target)
    if held_back is not None:
        return held_back
    if alert.mode != "auto":
        return f"Suggested: roll back {target}.", False, True
    cooldown_key = ctx.keys.auto_rollback_cooldown(alert.service)
    claimed = ctx.redis.set(cooldown_key, alert.alert_id, nx=True, ex=max(1, int(cooldown)))
    if not claimed and optional_text(ctx.redis.get(cooldown_key)) != alert.alert_id:  # (this alert: a retry)
        remaining = format_duration(max(0, int(ctx.redis.ttl(cooldown_key))))
        return (f"⏸️ Cooldown: an automated rollback of `{alert.service}` ran recently; no second one by itself "
                f"for {remaining}. Roll back by hand if needed."), False, True  # fmt: skip
    return f"🤖 Rolling back {target} automatically.", True, True


def act(
    ctx: Context, runbook: Runbook, alert_id: str, cooldown: float, url: str | None = None
) -> list[threading.Thread]:
    """Act on a new alert (or one that just became a breach): decide, start the rollback, page,
    and post the card. Returns the threads delivering to PagerDuty.
    """
    alert = ctx.alerts.get(alert_id)
    if alert is None:
        return []
    decision, start, paging = _decide(ctx, alert, cooldown)
    run: RunRecord | None = None
    if start:
        try:
            run, _ = start_rollback(ctx, runbook, alert, alert.level, AUTOMATION, f"auto:{alert.alert_id}")
        except RollbotError as error:
            ctx.redis.delete(ctx.keys.auto_rollback_cooldown(alert.service))  # nothing ran: no cooldown
            decision = f"⚠️ Automated rollback NOT started: {error.user_message}"
    if run is not None:
        decision = f"🤖 Rolled back automatically: run `{run.run_id}` ({blocks.target(run)})."

    def record(current: Alert) -> None:
        current.decision, current.acted_as = decision, current.kind
        if paging:
            current.incident_key = incident_key(current)
        if run is not None:
            current.run_id, current.run_status = run.run_id, run.status

    alert = ctx.alerts.update(alert_id, record) or alert
    ctx.audit(actor=AUTOMATION if start else "rollbot", action="alert.act", result=decision, run_id=alert.run_id,
              alert_id=alert_id, metric=alert.metric, value=alert.value, kind=alert.kind)  # fmt: skip
    threads = []
    if paging and alert.incident_key:
        summary = (
            f"{alert.service}: {alert.metric} at {blocks.format_value(alert.value)} ({alert.threshold or alert.kind})"
        )
        threads = page_incident(ctx, alert.incident_key, alert.service, summary, evidence(alert, url), alert.run_id,
                                severity=alert.severity)  # fmt: skip
    request_card_update(ctx, alert_id, immediate=True)  # a worker posts it: acting never waits on Slack
    return threads


def merge(ctx: Context, alert_id: str, owner_id: str, cooldown: float) -> None:
    """A message reported what the monitor's open alert `owner_id` already shows: count it there
    (and its repeats from now on) instead of posting a second card or paging again.
    """
    alert = ctx.alerts.get(alert_id)
    if alert is None:
        return
    now = ctx.clock()

    def close(current: Alert) -> None:
        current.state, current.resolved_at, current.resolution = "resolved", now, f"merged into {owner_id}"

    ctx.alerts.update(alert_id, close)
    ctx.alerts.bump(owner_id, alert.count)
    ctx.alerts.replace_claim(alert.fingerprint, alert_id, owner_id, cooldown)
    ctx.audit(actor="rollbot", action="alert.merge", result=owner_id, alert_id=alert_id)
    request_card_update(ctx, owner_id)


def start_rollback(ctx: Context, runbook: Runbook, alert: Alert, level: str | None, actor: str, request: str,
                   shown: tuple[str, str | None] | None = None) -> tuple[RunRecord, bool]:  # fmt: skip
    """Queue the alert's rollback (once per `request`), sharing the alert's PagerDuty incident.
    `shown` (commit, tag) is the checkpoint the card showed: the run is recorded with it, so the
    runner refuses it if the phase's checkpoint moved since. Returns the run and whether this call
    started it.
    """
    if alert.phase is None:
        raise RollbotError("This alert names no rollback; use `/rollback` with a phase.")
    plan = select(runbook, "rollback", alert.phase, level)
    if plan.approvals > 1 and actor == AUTOMATION:
        raise RollbotError(f"{alert.phase} {plan.level_name} needs two approvals; rollbot never starts it by itself.")
    plan = with_checkpoint(plan, ctx.checkpoints.get(runbook.service, plan.phase_name))
    commit, tag = shown if shown and plan.needs_checkpoint else (None, None)
    origin = Origin(alert_id=alert.alert_id, incident_key=alert.incident_key or incident_key(alert),
                    checkpoint_commit=commit, checkpoint_tag=tag)  # fmt: skip
    return enqueue_once(ctx, plan, actor, request, origin)


def _shown_checkpoint_key(ctx: Context, alert_id: str) -> str:
    return f"{ctx.keys.alert(alert_id)}:shown-checkpoint"


def shown_checkpoint(ctx: Context, alert_id: str) -> tuple[str, str | None] | None:
    """(commit, tag) of the checkpoint the alert's card last showed with its *Roll back* button."""
    commit, tag = ctx.redis.hmget(_shown_checkpoint_key(ctx, alert_id), ["commit", "tag"])
    return (text(commit), optional_text(tag)) if commit else None


def _offered_checkpoint(ctx: Context, alert: Alert) -> Checkpoint | None:
    """The checkpoint the card's *Roll back* button resets to, when it offers one."""
    if not alert.is_open or alert.phase is None or blocks.alert_rollback_level(alert) is None:
        return None
    return ctx.checkpoints.get(alert.service, alert.phase)


def _remember_shown(ctx: Context, alert_id: str, checkpoint: Checkpoint | None) -> None:
    key = _shown_checkpoint_key(ctx, alert_id)
    with ctx.redis.pipeline() as pipe:
        pipe.delete(key)
        if checkpoint is not None:
            pipe.hset(key, mapping={"commit": checkpoint.commit, "tag": checkpoint.tag})
            pipe.expire(key, ALERT_TTL_SECONDS)
        pipe.execute()


def note_run(ctx: Context, alert_id: str, run: RunRecord) -> None:
    """The alert is answered by `run` (started from its card)."""

    def record(alert: Alert) -> None:
        alert.run_id, alert.run_status, alert.next_level = run.run_id, run.status, None
        alert.incident_key = alert.incident_key or run.incident_key
        alert.decision = f"Rolling back by hand: run `{run.run_id}` ({blocks.target(run)}) by {blocks.who(run.actor)}."

    ctx.alerts.update(alert_id, record)
    request_card_update(ctx, alert_id)


def resolve_alert(ctx: Context, alert_id: str, resolution: str) -> list[threading.Thread]:
    """Mark the alert resolved, resolve its PagerDuty incident, and update its card."""
    now = ctx.clock()

    def close(alert: Alert) -> bool:
        if not alert.is_open:
            return False
        alert.state, alert.resolved_at, alert.resolution = "resolved", now, resolution
        return True

    alert = ctx.alerts.update(alert_id, close)
    if alert is None:
        return []
    failed_run = _failed_run(ctx, alert)
    if failed_run is not None:  # health is back, but the rollback failed: that page stays open
        note = f"; rollback run `{failed_run.run_id}` {blocks.RESULT_WORDS[failed_run.status]}: its page stays open"
        alert = ctx.alerts.update(alert_id, lambda a: setattr(a, "resolution", f"{resolution}{note}")) or alert
    if alert.origin == "monitor":  # a message's repeats keep counting on this card until its cooldown ends
        ctx.alerts.release(alert.fingerprint, alert_id)
    ctx.audit(actor="rollbot", action="alert.resolve", result=resolution, run_id=alert.run_id, alert_id=alert_id)
    threads = resolve(ctx, alert.incident_key, resolution) if alert.incident_key and failed_run is None else []
    request_card_update(ctx, alert_id)
    return threads


def _failed_run(ctx: Context, alert: Alert) -> RunRecord | None:
    """The alert's rollback, when it ended in a way that pages (failed, timed out, over budget…)."""
    if alert.run_id is None:
        return None
    try:
        run = ctx.runs.get(alert.run_id)
    except RunNotFoundError:
        return None
    return run if not run.is_active and pages_on(ctx, run.service, run.status) else None


def offer_next_level(ctx: Context, runbook: Runbook, alert_id: str, why: str) -> None:
    """Health did not recover after the alert's rollback: the card offers the phase's next level."""

    def offer(alert: Alert) -> bool:
        if alert.run_id is None or alert.phase is None or alert.decision.startswith("❗"):
            return False
        run = ctx.runs.get(alert.run_id)
        alert.run_status = run.status
        names = list(runbook.phases[alert.phase].levels) if alert.phase in runbook.phases else []
        index = names.index(run.level) if run.level in names else len(names)
        alert.next_level = names[index + 1] if index + 1 < len(names) else None
        offer_text = f" Next: roll back {alert.phase} {alert.next_level}?" if alert.next_level else (
            " No further level: escalate to the technical contacts.")  # fmt: skip
        alert.decision = f"❗ Not recovered after run `{run.run_id}` ({run.status}): {why}.{offer_text}"
        return True

    alert = ctx.alerts.update(alert_id, offer)
    if alert is not None:
        ctx.audit(actor="rollbot", action="alert.not_recovered", result=alert.decision, run_id=alert.run_id,
                  alert_id=alert_id)  # fmt: skip
        request_card_update(ctx, alert_id)


def acknowledge(ctx: Context, alert_id: str, user: str) -> Alert | None:
    """*Acknowledge* / *Keep watching*: someone is on it; the monitor keeps measuring."""

    def ack(alert: Alert) -> bool:
        if alert.state != "firing":
            return False
        alert.state, alert.acknowledged_by = "acknowledged", user
        return True

    alert = ctx.alerts.update(alert_id, ack)
    ctx.audit(actor=user, action="alert.acknowledge", result="recorded", alert_id=alert_id)
    request_card_update(ctx, alert_id)
    return alert


def silence(ctx: Context, alert_id: str, user: str) -> Alert | None:
    """*Silence 30 min*: no pages and no automatic rollback for this alert's fingerprint meanwhile."""
    until = ctx.clock() + timedelta(seconds=SILENCE_SECONDS)

    def quiet(alert: Alert) -> bool:
        if not alert.is_open:
            return False
        alert.state, alert.silenced_by, alert.silenced_until = "silenced", user, until
        return True

    alert = ctx.alerts.update(alert_id, quiet)
    if alert is not None and alert.is_open:
        ctx.alerts.silence(alert.fingerprint, user, SILENCE_SECONDS)
    ctx.audit(actor=user, action="alert.silence", result="recorded", alert_id=alert_id, until=until.isoformat())
    request_card_update(ctx, alert_id)
    return alert


def end_silence_if_due(alert: Alert, now: datetime) -> bool:
    """A silenced alert fires again once its silence is over."""
    if alert.state == "silenced" and alert.silenced_until is not None and alert.silenced_until <= now:
        alert.state = "firing"
        return True
    return False


# --- the card ---------------------------------------------------------------------------------


def request_card_update(ctx: Context, alert_id: str, immediate: bool = False) -> None:
    """Schedule one card update a second from now (`immediate`: now) unless one is scheduled: a
    storm of changes becomes at most one `chat.update` per second, each showing the state when it
    runs (the update clears the mark when it starts, so later changes schedule the next one).
    """
    try:
        if ctx.redis.set(ctx.keys.alert_card_due(alert_id), "1", nx=True, px=CARD_DUE_EXPIRY_MS):
            schedule_card_update(ctx, alert_id, immediate)
    except RedisError as error:
        logger.error("alert %s: card update not scheduled: %s", alert_id, error)


def schedule_card_update(ctx: Context, alert_id: str, immediate: bool = False) -> None:
    """Queue the card's update (its due mark is set: see `request_card_update`)."""
    try:
        options: dict[str, Any] = {
            "job_id": ctx.keys.job("alert-card", f"{alert_id}-{time.time_ns()}-{secrets.token_hex(2)}"),
            "retry": CARD_RETRY, "result_ttl": 0, "failure_ttl": 86400, "description": f"alert card {alert_id}",
        }  # fmt: skip
        queue = ctx.queue("notify")
        if immediate:
            queue.enqueue(Task.SYNC_ALERT_CARD, alert_id, **options)
        else:
            queue.enqueue_in(timedelta(seconds=CARD_UPDATE_SECONDS), Task.SYNC_ALERT_CARD, alert_id, **options)
    except RedisError as error:
        logger.error("alert %s: card update not scheduled: %s", alert_id, error)


def sync_card(ctx: Context, alert_id: str) -> bool:
    """Post or update the alert's card now; False when Slack did not take it. One process at a time
    per card, so it is never posted twice; never two card calls within a second.
    """

    def sync() -> bool:
        last_sent = optional_text(ctx.redis.get(ctx.keys.alert_card_sent(alert_id)))
        wait = float(last_sent) + CARD_UPDATE_SECONDS - time.time() if last_sent else 0.0
        if wait > 0:
            time.sleep(wait)
        ctx.redis.delete(ctx.keys.alert_card_due(alert_id))  # changes from now on schedule a new update
        delivered = _sync_card(ctx, alert_id)
        ctx.redis.set(ctx.keys.alert_card_sent(alert_id), f"{time.time():.3f}", ex=60)
        return delivered

    return cards.locked(ctx, f"{ctx.keys.alert(alert_id)}:card", sync)


def _sync_card(ctx: Context, alert_id: str) -> bool:
    alert = ctx.alerts.get(alert_id)
    if alert is None or (not alert.is_open and not alert.ts):  # gone, or closed (merged) before it was shown
        return True
    runbook = catalog(ctx).first  # the runbooks share one alert channel
    checkpoint = _offered_checkpoint(ctx, alert)
    message = blocks.alert_card(alert, ctx.clock(), checkpoint)
    sent = cards.send(ctx, alert, alert_channel(ctx, runbook), message, f"alert {alert_id}")
    if sent is not False:  # what the card shows now: a click on its Roll back pins this checkpoint
        _remember_shown(ctx, alert_id, checkpoint)
    if isinstance(sent, tuple):
        alert_channels.remember(ctx, runbook, sent[0])
        ctx.alerts.update(alert_id, cards.place(*sent))
    return sent is not False
