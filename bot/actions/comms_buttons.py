"""The communication clocks' buttons: *Customer-facing* on the incident card, *Send now* on the
business e-mail draft, *Publish* on a status page draft (each queued for a worker), and the Phase 1
*Document blockers* button and modal.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError
from rq import Retry
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import deps
from bot.refusals import answered, refusing
from bot.replies import reply
from jobs.core.exceptions import RollbotError
from jobs.core.ids import ActionId, CallbackId
from jobs.core.task_names import Task
from jobs.slack import blocks
from jobs.slack.blocks.comms import CRITERIA_ACTION, CRITERIA_BLOCK, FINDINGS_ACTION, FINDINGS_BLOCK

logger = logging.getLogger(__name__)

COMMS_RETRY = Retry(max=5, interval=[5, 15, 30, 60, 120])


def register(app: App) -> None:
    """Attach the communication clocks' listeners to `app`."""
    app.action(ActionId.INCIDENT_CUSTOMER_FACING.value)(answered(customer_facing))
    app.action(ActionId.STAKEHOLDERS_SEND.value)(answered(send_now))
    app.action(ActionId.STATUSPAGE_PUBLISH.value)(answered(publish))
    app.action(ActionId.PHASE1_BLOCKERS.value)(answered(document_blockers))
    app.view(CallbackId.PHASE1_BLOCKERS.value)(blockers_submitted)


def _queue(body: dict[str, Any], respond: Respond, what: str, task: str, done: str) -> None:
    """Authorize the click (`incident` role of the incident's service), then queue `task`."""
    user, value = body["user"]["id"], str(body["actions"][0].get("value") or "")
    key = value.removeprefix("resolve:")
    ctx = deps.context()
    try:
        with refusing(user, "incident.click", errors=(RollbotError,), key=key):
            incident = ctx.incidents.get(key)
            deps.authorize(incident.service if incident else None, user, "incident", what)
    except RedisError:
        logger.exception("Redis unreachable on a %s click", what)
        reply(respond, "rollbot cannot reach Redis: do it by hand.")
        return
    try:
        ctx.queue("notify").enqueue(task, value, user, retry=COMMS_RETRY,
                                    job_id=ctx.keys.job("comms", f"{key}-{time.time_ns()}"),
                                    description=f"{what} for {user}")  # fmt: skip
    except RedisError:
        logger.exception("could not queue %s of %s", what, key)
        reply(respond, "rollbot cannot reach Redis: do it by hand.")
        return
    reply(respond, done)


def customer_facing(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Customer-facing*: the status page and executive clocks apply to this incident."""
    ack()
    _queue(body, respond, "marking incidents customer-facing", Task.MARK_CUSTOMER_FACING,
           "Marked customer-facing: the status page and executive clocks now apply.")  # fmt: skip


def send_now(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Send now*: e-mail the business contacts (once, however many clicks)."""
    ack()
    _queue(body, respond, "sending the business notification", Task.SEND_STAKEHOLDER_MAIL,
           "Sending the business notification…")  # fmt: skip


def publish(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Publish*: create (or resolve) the status page incident."""
    ack()
    _queue(body, respond, "publishing to the status page", Task.PUBLISH_STATUSPAGE, "Publishing to the status page…")


def document_blockers(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
    """*Document blockers*: the modal with the findings and the stop criteria."""
    ack()
    user, value = body["user"]["id"], str(body["actions"][0].get("value") or "")
    service, _, phase_name = value.partition("/")
    with refusing(user, "phase1.click", errors=(RollbotError,), service=service):
        book = deps.runbook(service or None)
        deps.authorize(book.service, user, "incident", "documenting Phase 1 blockers")
    phase = book.phases.get(phase_name)
    criteria = phase.stop_criteria if phase else []
    try:
        client.views_open(trigger_id=body["trigger_id"], view=blocks.phase1_modal(value, criteria))
    except SlackApiError as error:
        logger.warning("phase1 blockers modal not opened: %s", error)
        reply(respond, f"Slack did not open the form ({error.response.get('error')}).")


def blockers_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    """The blockers modal was submitted: a worker comments on the tracking issue and tells the
    business contacts.
    """
    ack()
    user, target = body["user"]["id"], str(view.get("private_metadata") or "")
    service, _, phase = target.partition("/")
    values = view.get("state", {}).get("values", {})
    findings = str(values.get(FINDINGS_BLOCK, {}).get(FINDINGS_ACTION, {}).get("value") or "")
    chosen = values.get(CRITERIA_BLOCK, {}).get(CRITERIA_ACTION, {}).get("selected_options") or []
    ticked = [int(o["value"]) for o in chosen]
    ctx = deps.context()
    try:
        ctx.queue("notify").enqueue(Task.DOCUMENT_PHASE1_BLOCKERS, service, user, findings, ticked, phase,
                                    retry=COMMS_RETRY, job_id=ctx.keys.job("phase1", f"{service}-{time.time_ns()}"),
                                    description=f"phase1 blockers of {service} for {user}")  # fmt: skip
    except RedisError:
        logger.exception("could not queue the phase1 blockers of %s", service)
