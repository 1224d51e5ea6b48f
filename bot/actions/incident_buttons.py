"""The incident card's buttons: Acknowledge and Resolve (PagerDuty calls run on a worker),
Stakeholders notified (recorded at once; it stops the business notification clock).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError
from rq import Retry
from slack_bolt import Ack, Respond

from bot import deps
from bot.refusals import refusing
from bot.replies import reply
from jobs.core.exceptions import RollbotError
from jobs.core.task_names import Task

logger = logging.getLogger(__name__)

INCIDENT_RETRY = Retry(max=3, interval=[5, 30, 120])


def _clicked(body: dict[str, Any], what: str) -> tuple[str, str]:
    """The user and incident key of a click, once the user is authorized; a refusal, or no readable
    runbook, is a `Refusal` (said by `answered`)."""
    user, key = body["user"]["id"], str(body["actions"][0].get("value") or "")
    with refusing(user, "incident.click", errors=(RollbotError,), key=key):
        incident = deps.context().incidents.get(key)
        deps.authorize(incident.service if incident else None, user, "incident", what)
    return user, key


def _change(body: dict[str, Any], respond: Respond, status: str) -> None:
    user, key = _clicked(body, f"marking incidents {status}")
    try:
        deps.context().queue("notify").enqueue(
            Task.CHANGE_INCIDENT, key, user, status, retry=INCIDENT_RETRY,
            job_id=deps.context().keys.job("incident", f"{key}-{status}-{time.time_ns()}"),
            description=f"PagerDuty {status} {key} for {user}",
        )  # fmt: skip
    except RedisError:
        logger.exception("could not queue %s of %s", status, key)
        reply(respond, "rollbot cannot reach Redis: do it in PagerDuty directly.")
        return
    reply(respond, f"Marking it {status} in PagerDuty as you…")


def acknowledge(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Acknowledge*: the REST API call runs on a worker, `From` the clicking person."""
    ack()
    _change(body, respond, "acknowledged")


def resolve(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Resolve*: the REST API call runs on a worker."""
    ack()
    _change(body, respond, "resolved")


def notified(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Stakeholders notified*: a worker records who and when, cancels the reminder, updates the card."""
    ack()
    user, key = _clicked(body, "recording stakeholder notification")
    try:
        deps.context().queue("notify").enqueue(
            Task.RECORD_STAKEHOLDERS_NOTIFIED, key, user, retry=INCIDENT_RETRY,
            job_id=deps.context().keys.job("stakeholders", f"{key}-{time.time_ns()}"),
        )  # fmt: skip
    except RedisError:
        logger.exception("could not queue the stakeholder notification of %s", key)
        reply(respond, "rollbot cannot reach Redis: the reminder may still fire.")
        return
    reply(respond, "Noted: stakeholders notified. The reminder will not fire.")
