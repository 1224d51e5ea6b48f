"""The alert card's buttons: *Roll back phase N level L*, *Acknowledge* / *Keep watching*, and
*Silence 30 min*. Each authorizes the clicking person; the card itself is updated by a worker.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond

from bot import deps
from bot.refusals import refusing
from bot.replies import reply
from jobs.alerts import response as alert_response
from jobs.core.exceptions import RollbotError
from jobs.guardrails.access import Action
from jobs.records.alerts import Alert
from jobs.runbook.model import Runbook
from jobs.slack import blocks
from jobs.slack.notifier import alert_channel

logger = logging.getLogger(__name__)


def _recorded(respond: Respond, record: Callable[[], object]) -> bool:
    """Run `record`; False (said) when Redis cannot be reached."""
    try:
        record()
    except RedisError:
        logger.exception("Redis unreachable while recording a click on an alert")
        reply(respond, "rollbot cannot reach Redis: nothing was recorded; try again in a moment.")
        return False
    return True


def _clicked(body: dict[str, Any], respond: Respond, action: Action, what: str) -> tuple[str, Alert, str] | None:
    """The user, the open alert and the button's value, once the user may act (else None, said).
    A *Roll back* click is authorized for the phase and level it would start; a refusal, or no
    readable runbook, is a `Refusal` (said by `answered`).
    """
    user, value = body["user"]["id"], str(body["actions"][0].get("value") or "")
    alert_id, _, level = value.partition("|")
    ctx = deps.context()
    try:
        with refusing(user, f"alert.{action}", errors=(RollbotError,), alert_id=alert_id):
            alert = ctx.alerts.get(alert_id)
            phase = alert.phase if alert is not None and action == "rollback" else None
            deps.authorize(alert.service if alert else None, user, action, what, phase,
                           level or None if phase else None)  # fmt: skip
    except RedisError:
        logger.exception("Redis unreachable on a click on alert %s", alert_id)
        reply(respond, "rollbot cannot reach Redis right now: use `/rollback` or the CLI on the deploy host.")
        return None
    if alert is None or not alert.is_open:
        reply(respond, f"Alert `{alert_id}` is no longer open; nothing was done.")
        return None
    return user, alert, value


def _not_offered(alert: Alert, level: str | None, book: Runbook, channel: str) -> str | None:
    """Why the card's *Roll back* click cannot start `level` now, if it cannot."""
    if alert.run_id and alert.run_status in ("queued", "running"):
        return f"Already started as run `{alert.run_id}`; progress in {channel}."
    if level is None or level != blocks.alert_rollback_level(alert):
        return "This card no longer offers that rollback; look at the card again for what it offers now."
    phase = book.phases.get(alert.phase or "")
    if phase is None or level not in phase.levels:
        return f"The runbook no longer has {alert.phase} {level}; use `/rollback` to see what it has."
    if phase.levels[level].approvals > 1:
        ask = f"/rollback {book.service_word}{alert.phase} {level}"
        return f"{level} needs a second approver (two-person rule): ask with `{ask}`, which posts an approval card."
    return None


def rollback(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Roll back phase N level L*: start the level the card offers now, once, as the clicking person,
    with the checkpoint the card showed.
    """
    ack()
    clicked = _clicked(body, respond, "rollback", "rolling back")
    if clicked is None:
        return
    user, alert, value = clicked
    level = value.split("|", 1)[1] if "|" in value else None
    ctx = deps.context()
    try:
        book = deps.runbook(alert.service)
    except RollbotError as error:
        reply(respond, error.user_message)
        return
    channel = alert_channel(ctx, book)
    refusal = _not_offered(alert, level, book, channel)
    try:
        with refusing(user, "alert.rollback", errors=(RollbotError,), alert_id=alert.alert_id):
            if refusal is not None:
                raise RollbotError(refusal)
            shown = alert_response.shown_checkpoint(ctx, alert.alert_id)  # the run is refused if it moved since
            run, created = alert_response.start_rollback(ctx, book, alert, level, deps.actor(user),
                                                         f"alert:{alert.alert_id}:{level}", shown)  # fmt: skip
    except RedisError:
        logger.exception("Redis unreachable while starting %s %s for %s", alert.phase, level, user)
        cli = f"rollbot rollback {alert.phase} --level {level}{book.service_option}"
        reply(
            respond,
            f"rollbot cannot reach Redis: nothing was started. On the deploy host: `{cli}` (the break-glass CLI).",
        )
        return
    if not created:
        reply(respond, f"Already started as run `{run.run_id}` ({run.status}); progress in {channel}.")
        return
    with contextlib.suppress(RedisError):  # the run is queued; only its mention on the card is lost
        alert_response.note_run(ctx, alert.alert_id, run)
    reply(respond, f"✅ Rollback {blocks.target(run)} is run `{run.run_id}` ({run.status}); progress in {channel}.")


def keep_watching(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Acknowledge* / *Keep watching*: someone is on it; the monitor keeps deciding."""
    ack()
    clicked = _clicked(body, respond, "incident", "acknowledging alerts")
    if clicked is None:
        return
    user, alert, _ = clicked
    if not _recorded(respond, lambda: alert_response.acknowledge(deps.context(), alert.alert_id, user)):
        return
    reply(respond, "👀 Acknowledged: rollbot keeps watching and acts if it becomes a breach.")


def silence(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
    """*Silence 30 min*: no pages and no automatic rollback for this alert meanwhile."""
    ack()
    clicked = _clicked(body, respond, "incident", "silencing alerts")
    if clicked is None:
        return
    user, alert, _ = clicked
    if not _recorded(respond, lambda: alert_response.silence(deps.context(), alert.alert_id, user)):
        return
    reply(respond, f"🔕 Silenced for {blocks.SILENCE_MINUTES} minutes: no pages and no automatic rollback for "
                   "this alert; the card keeps showing the values.")  # fmt: skip
