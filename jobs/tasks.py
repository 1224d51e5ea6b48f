"""RQ job functions: plain, importable, JSON-safe arguments (a run id); connections from the factory."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pagerduty
from rq import Retry, get_current_job

from jobs import chains, report
from jobs.alerts import intake as alert_intake
from jobs.alerts import monitor
from jobs.alerts import response as alert_response
from jobs.alerts import rules as alert_rules
from jobs.comms import clocks as comms_clocks
from jobs.comms import executive as comms_executive
from jobs.comms import phase1 as comms_phase1
from jobs.comms import stakeholders as comms_stakeholders
from jobs.comms import statuspage as comms_statuspage
from jobs.core.exceptions import DeliveryFailed, MailError, RollbotError, RunbookError, UnknownTargetError
from jobs.core.task_names import Task
from jobs.factory import get_context
from jobs.guardrails import access, approvals
from jobs.pagerduty import escalation
from jobs.pagerduty.escalation import RunEscalation
from jobs.pagerduty.events import deliver
from jobs.pagerduty.inbound import change_status, handle_webhook, thread_note
from jobs.runbook.catalog import catalog, runbook_for
from jobs.runbook.model import Runbook
from jobs.runs.runner import execute_queued_run
from jobs.runs.steps import RunObserver
from jobs.slack import channel as alert_channel
from jobs.slack import rehearsals
from jobs.slack.blocks.modal import ModalState
from jobs.slack.notifier import FirstNewsNotifier, RunMessage
from jobs.views import home, prefill
from jobs.views import modal as rollback_modal

logger = logging.getLogger(__name__)


ESCALATION_WAIT_SECONDS = 5.0  # a finished run's process gives its PagerDuty deliveries this long
POLL_ESCALATION_WAIT_SECONDS = 1.0
COMMS_RETRY = Retry(max=8, interval=[10, 20, 30, 60, 120, 300, 600, 900])


def _execute(run_id: str) -> str:
    ctx = get_context()
    escalations = RunEscalation(ctx, run_id)
    with FirstNewsNotifier(ctx, run_id) as notifier:
        observers: list[RunObserver] = [notifier.changed, escalations.changed,
                                        lambda _step: home.request_refresh(ctx)]  # fmt: skip
        status = execute_queued_run(ctx, run_id, observers).status
    escalations.wait(ESCALATION_WAIT_SECONDS)
    return status


def rollback_job(run_id: str) -> str:
    """Execute a queued rollback run, its progress kept current in the alert channel."""
    return _execute(run_id)


def preflight_job(run_id: str) -> str:
    """Execute a queued preflight run (checkpoint + checks)."""
    return _execute(run_id)


def validation_job(run_id: str) -> str:
    """Execute a queued validation run."""
    return _execute(run_id)


def deliver_run_message(run_id: str) -> str:
    """Bring the run's Slack message up to date; raises (so RQ retries with backoff) while Slack
    cannot be reached, and logs with the run id when it gives up.
    """
    ctx = get_context()
    home.request_refresh(ctx)  # a run ended or changed outside its own process
    if RunMessage(ctx, ctx.slack, run_id).sync():
        return "delivered"
    job = get_current_job()
    if job is not None and not job.retries_left:
        logger.error("run %s: giving up on Slack; its final state was never delivered", run_id)
    raise DeliveryFailed(f"Slack message of run {run_id} not delivered yet")


def deliver_pagerduty_event(event_id: str) -> str:
    """Deliver a stored PagerDuty event; raises (RQ retries with backoff) until PagerDuty takes it."""
    if deliver(get_context(), event_id):
        return "delivered"
    raise DeliveryFailed(f"PagerDuty event {event_id} not delivered yet")


def record_stakeholders_notified(incident_key: str, user: str) -> str:
    """*Stakeholders notified* was clicked: record it, cancel the reminder, update the card."""
    return "recorded" if escalation.stakeholders_notified(get_context(), incident_key, user) else "unknown incident"


def remind_stakeholders(incident_key: str) -> str:
    """The business notification clock went off (scheduled by RQ's scheduler): the business e-mail
    goes out by itself (`escalation.auto_send`, addresses, `SMTP_URL`), else the channel is reminded.
    While the SMTP server does not answer, the sending is retried by its own job.
    """
    ctx = get_context()
    try:
        return comms_stakeholders.at_deadline(ctx, incident_key)
    except MailError:
        ctx.queue("notify").enqueue(Task.SEND_STAKEHOLDER_MAIL, incident_key, "rollbot", retry=COMMS_RETRY,
                                    job_id=ctx.keys.job("mail", f"{incident_key}-{time.time_ns()}"))  # fmt: skip
        return "SMTP down: retrying"


def escalate_run(run_id: str) -> str:
    """Act on a run that ended outside its own process (cancelled, interrupted): it may page."""
    escalations = RunEscalation(get_context(), run_id)
    escalations.changed(None)
    escalations.wait(ESCALATION_WAIT_SECONDS)
    return "done"


def change_incident(incident_key: str, user: str, status: str) -> str:
    """Acknowledge or resolve an incident in PagerDuty for a Slack user (the card's buttons). Retried;
    when PagerDuty keeps refusing, the card's thread says so and tells to do it in PagerDuty.
    """
    if status not in ("acknowledged", "resolved"):
        raise ValueError(f"unknown incident status {status!r}")
    ctx = get_context()
    try:
        changed = change_status(ctx, incident_key, user, status)  # type: ignore[arg-type]
        home.request_refresh(ctx)
        return changed.status
    except (pagerduty.Error, RollbotError) as error:
        job = get_current_job()
        incident = ctx.incidents.get(incident_key)
        if incident is not None and (job is None or not job.retries_left):
            thread_note(ctx, incident, f"⚠️ Could not mark it {status} in PagerDuty for <@{user}> ({error}): "
                                       "do it in PagerDuty directly.")  # fmt: skip
        raise


def handle_pagerduty_webhook(payload: dict[str, Any]) -> str:
    """Apply one verified PagerDuty v3 webhook event to Slack."""
    ctx = get_context()
    result = handle_webhook(ctx, payload)
    home.request_refresh(ctx)  # an incident changed
    return result


# --- the monitor and alerts -------------------------------------------------------------------


def monitor_poll(name: str, generation: str | None = None) -> str:
    """One poll of the health source `name` (`service/source`). In a chain (`generation`), the next
    poll is queued first, so the rhythm holds however long this one takes; a chain that was
    replaced stops.
    """
    ctx = get_context()
    if generation is not None and not monitor.chain_is_current(ctx, name, generation):
        return "superseded"
    service, source_name = monitor.parse_chain_name(name)
    try:
        runbook = catalog(ctx).books.get(service)
    except RunbookError as error:
        logger.error("health source %s not polled, the runbook is unreadable: %s", name, error.user_message)
        if generation is not None:
            monitor.schedule_retry(ctx, name, generation)  # polling resumes once the runbook is fixed
        raise
    source = runbook.health.get(source_name) if runbook is not None else None
    if runbook is None or source is None:
        return "no such health source (chain stopped)"
    if generation is not None:
        monitor.schedule_next(ctx, name, source, generation, source.interval)
    # A short wait: a rollback this poll queued may be next on this worker (the backstop job
    # delivers whatever the page has not delivered by then).
    _wait(monitor.poll_once(ctx, runbook, source_name, source), POLL_ESCALATION_WAIT_SECONDS)
    return "polled"


def recheck_alert(alert_id: str) -> str:
    """The alert's rollback ended: measure its health source now (recovered → resolved; not → the
    next level is offered). Without a health source, the run's own result decides.
    """
    ctx = get_context()
    alert = ctx.alerts.get(alert_id)
    if alert is None or not alert.is_open:
        return "nothing to re-check"
    runbook = runbook_for(ctx, alert.service)
    source_name = alert.source if alert.origin == "monitor" else health_source_of(runbook, alert.metric)
    source = runbook.health.get(source_name or "")
    if source is not None and source_name is not None:
        _wait(monitor.poll_once(ctx, runbook, source_name, source))
        return "measured"
    run = ctx.runs.get(alert.run_id) if alert.run_id else None
    if run is not None and run.status == "succeeded":
        _wait(
            alert_response.resolve_alert(ctx, alert_id, f"run `{run.run_id}` succeeded (no health source to measure)")
        )
        return "resolved"
    alert_response.offer_next_level(ctx, runbook, alert_id, "the rollback did not succeed")
    return "next level offered"


def health_source_of(runbook: Runbook, metric: str) -> str | None:
    """The health source a rule's metric (`golden_path.success_rate`) belongs to, if the runbook has it."""
    name = metric.split(".", 1)[0]
    return name if name in runbook.health else None


def act_on_alert(alert_id: str) -> str:
    """A new alert from a message: roll back (`auto`) or suggest it, page, post the card. Its
    health source, if the runbook has one, takes it over (resolves it on recovery).
    """
    ctx = get_context()
    alert = ctx.alerts.get(alert_id)
    if alert is None:
        return "unknown alert"
    runbook = runbook_for(ctx, alert.service)
    rule = next((r for r in alert_rules.rules(runbook) if r.name == alert.source), None)
    cooldown = rule.cooldown if rule else 900.0
    source_name = health_source_of(runbook, alert.metric)
    owner = monitor.adopt(ctx, runbook.service, source_name, alert_id) if source_name is not None else None
    if owner is not None and owner != alert_id:
        alert_response.merge(ctx, alert_id, owner, cooldown)
        return f"merged into the monitor's alert {owner}"
    _wait(alert_response.act(ctx, runbook, alert_id, cooldown))
    return "acted"


def sync_alert_card(alert_id: str) -> str:
    """Bring the alert's card up to date; raises (RQ retries) while Slack cannot be reached."""
    ctx = get_context()
    home.request_refresh(ctx)  # every change of an alert updates its card
    if alert_response.sync_card(ctx, alert_id):
        return "delivered"
    raise DeliveryFailed(f"card of alert {alert_id} not delivered yet")


def _wait(threads: list[threading.Thread], seconds: float = ESCALATION_WAIT_SECONDS) -> None:
    """Give PagerDuty deliveries a moment before the job ends (their backstop jobs do the rest)."""
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def learn_alert_channel() -> str:
    """Look up the alert channel's ID (raises, so RQ retries, while Slack cannot answer), then match
    the messages held meanwhile.
    """
    ctx = get_context()
    books = catalog(ctx)
    channel_id = alert_channel.learn(ctx, books.first, ctx.slack)
    if channel_id is None:
        raise DeliveryFailed("the alert channel was not found in conversations.list")
    return f"{channel_id}: {alert_intake.replay_held(ctx, books, channel_id)} held messages matched"


# --- two-person approvals ----------------------------------------------------------------------


def sync_approval_card(run_id: str) -> str:
    """Bring the approval card up to date; raises (RQ retries) while Slack cannot be reached."""
    if approvals.sync_card(get_context(), run_id):
        return "delivered"
    raise DeliveryFailed(f"approval card {run_id} not delivered yet")


def expire_approval(run_id: str) -> str:
    """The approval request's time is up (RQ's scheduler): still pending → expired."""
    return "expired" if approvals.expire(get_context(), run_id) else "already decided"


# --- incident reports -------------------------------------------------------------------------


def post_incident_report(run_id: str) -> str:
    """A rollback ended: post its incident report (Markdown file) in the run message's thread.
    Raises (RQ retries with backoff) while the message is not posted yet or Slack fails; a run is
    never affected by it.
    """
    ctx = get_context()
    try:
        runbook: Runbook | None = runbook_for(ctx, ctx.runs.get(run_id).service)
    except (RunbookError, UnknownTargetError) as error:
        logger.warning("run %s: runbook unreadable, the report uses the manual's defaults: %s", run_id,
                       error.user_message)  # fmt: skip
        runbook = None
    try:
        return report.post(ctx, ctx.slack, run_id, runbook)
    except DeliveryFailed:
        job = get_current_job()
        if job is not None and not job.retries_left:
            logger.error("run %s: giving up on posting its incident report; `rollbot report %s` prints it",
                         run_id, run_id)  # fmt: skip
        raise


def refresh_user_groups(chain_name: str, generation: str) -> str:
    """Refresh the members of the runbooks' user groups, then queue the next refresh."""
    ctx = get_context()
    if not chains.is_current(ctx, chain_name, generation):
        return "superseded"
    interval = max(1.0, ctx.settings.rollbot_group_cache_seconds)
    chains.schedule(ctx, access.group_chain(), generation, interval, interval, 120)
    return json.dumps(access.refresh_groups(ctx, catalog(ctx), ctx.slack))


# --- Slack work that outlasted its retries ------------------------------------------------------


def redeliver_slack(chain_name: str, generation: str) -> str:
    """The redelivery chain: queue the Slack deliveries whose retries ran out again once Slack
    answers (see `jobs.deliveries`), then the next link.
    """
    from jobs.slack import deliveries  # noqa: PLC0415 - this section is appended; the module imports stay as they are

    ctx = get_context()
    return deliveries.run_chain(ctx, ctx.slack, chain_name, generation)


# --- the communication clocks (jobs.comms) ------------------------------------------------------


def open_incident_clocks(incident_key: str) -> str:
    """An incident opened: customer-facing or not, the business draft, the SMTP probe, the status
    page and executive clocks. Raises (retried) until its card is posted.
    """
    return comms_clocks.open_clocks(get_context(), incident_key)


def send_stakeholder_mail(incident_key: str, user: str) -> str:
    """*Send now* (or the deadline's retry): e-mail the business contacts, once."""
    return comms_stakeholders.send_business(get_context(), incident_key, user)


def mark_customer_facing(incident_key: str, user: str) -> str:
    """*Customer-facing* was clicked."""
    return "marked" if comms_clocks.mark_customer_facing(get_context(), incident_key, user) else "unknown incident"


def statuspage_due(incident_key: str) -> str:
    """The status page clock went off."""
    return comms_statuspage.due(get_context(), incident_key)


def publish_statuspage(value: str, user: str) -> str:
    """*Publish* was clicked: create (or resolve) the status page incident; retried while
    Statuspage does not answer.
    """
    return comms_statuspage.publish(get_context(), value, user)


def offer_statuspage_resolution(incident_key: str) -> str:
    """The incident resolved: offer the status page resolution."""
    return comms_statuspage.offer_resolution(get_context(), incident_key)


def executive_due(incident_key: str) -> str:
    """The executive clock went off."""
    return comms_executive.due(get_context(), incident_key)


def document_phase1_blockers(service: str, user: str, findings: str, ticked: list[int], phase: str = "phase1") -> str:
    """The Phase 1 blockers modal was submitted: the tracking issue's comment, audit, business contacts."""
    return comms_phase1.document(get_context(), service, user, findings, ticked, phase)


# --- the App Home and the rollback modal ------------------------------------------------------


def fill_rollback_modal(view_id: str, state: str, message: dict[str, Any] | None = None) -> str:
    """Fill the modal a listener opened (`views.update`): its selects and the plan preview for
    `state` (its private_metadata), pre-filled from `message` for the message shortcut."""
    ctx = get_context()
    books = catalog(ctx)
    chosen = ModalState.load(state)
    if message is not None:
        found = prefill.from_message(ctx, books, message)
        chosen.service, chosen.phase, chosen.level, chosen.note = found.service, found.phase, found.level, found.note
    return "filled" if rollback_modal.fill(ctx, books, view_id, chosen) else "modal gone"


def publish_home(user: str) -> str:
    """Publish the App Home dashboard for `user` (who opened it or clicked *Refresh*)."""
    ctx = get_context()
    home.opened(ctx, user)
    return "published" if home.publish(ctx, user) else "not published"


def refresh_homes() -> str:
    """Something changed: publish the dashboard for everyone who opened it in the last hour."""
    return f"{home.refresh(get_context())} Homes refreshed"


def rehearsal_job(subject: str, generation: str | None = None) -> str:
    """Rehearse run `subject` on a scratch clone; with a `generation`, tick the schedule's chain `subject`."""
    return rehearsals.tick(subject, generation) if generation is not None else rehearsals.rehearse(subject)
