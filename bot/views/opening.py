"""Opening the rollback modal: `/rollback` with no text, *Roll back…* / *Pre-flight…* on the Home tab,
the message shortcut *Roll back from this message*, and re-filling it when a select changes.

`views.open` must use the request's `trigger_id` within 3 s, so it is the one Slack call a listener
makes: a small modal at once (`loading_modal`), filled in by a worker with `views.update`.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import deps
from bot.refusals import refusing
from bot.replies import reply
from jobs.core.ids import ModalField
from jobs.core.task_names import Task
from jobs.guardrails.access import check_channel_any
from jobs.slack.blocks.modal import ModalState, loading_modal

logger = logging.getLogger(__name__)

FILL_TIMEOUT = 60  # a modal nobody filled within a minute is not worth filling


def enqueue_fill(view_id: str, state: ModalState, message: dict[str, Any] | None = None) -> None:
    """Have a `notify` worker fill the modal `view_id` for `state` (pre-filled from `message`)."""
    ctx = deps.context()
    ctx.queue("notify").enqueue(Task.FILL_ROLLBACK_MODAL, view_id, state.dump(), message, ttl=FILL_TIMEOUT,
                                job_id=ctx.keys.job("modal", f"{view_id}-{secrets.token_hex(4)}"),
                                description=f"fill modal {view_id}")  # fmt: skip


def open_modal(client: WebClient, trigger_id: str, state: ModalState, message: dict[str, Any] | None = None) -> bool:
    """Open the small modal with `trigger_id` now and have a worker fill it. False when Slack did
    not open it (logged) or the fill could not be queued (the modal says so)."""
    state.token = state.token or secrets.token_urlsafe(12)  # the one-time confirm token of this modal
    try:
        opened = client.views_open(trigger_id=trigger_id, view=loading_modal(state))
    except SlackApiError as error:
        logger.warning("modal not opened: %s", error.response.get("error"))
        return False
    view_id = str((opened.get("view") or {}).get("id") or "")
    try:
        enqueue_fill(view_id, state, message)
    except RedisError:
        logger.exception("modal %s not filled: Redis unreachable", view_id)
        state.note = "⚠️ Redis does not answer, so nothing can be planned here: use `rollbot rollback <phase>` " \
                     "on a host (break-glass)."  # fmt: skip
        try:
            client.views_update(view_id=view_id, view=loading_modal(state))
        except SlackApiError as error:
            logger.warning("modal %s not updated: %s", view_id, error.response.get("error"))
        return False
    return True


def command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
    """`/rollback` with no text: the modal (where commands are accepted)."""
    user = command["user_id"]
    deps.audit_command(user, command)
    channel_id, channel_name = command.get("channel_id", ""), command.get("channel_name", "")
    with refusing(user, "rollback.modal", channel=channel_id):
        check_channel_any(deps.catalog(), channel_id, channel_name, "/rollback")
    ack()
    if not open_modal(client, command["trigger_id"], ModalState(kind="rollback")):
        reply(respond, "Could not open the rollback form; `/rollback <phase> [<level>]` shows the plan instead.")


def _clicked(body: dict[str, Any]) -> tuple[str, str]:
    return body["user"]["id"], str(body["actions"][0].get("value") or "")


def home_rollback(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    """*Roll back…* on the Home tab: the modal for that service."""
    ack()
    _user, service = _clicked(body)
    open_modal(client, body["trigger_id"], ModalState(kind="rollback", service=service or None))


def home_preflight(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    """*Pre-flight…* on the Home tab: the same modal, for a pre-flight (checkpoint and checks)."""
    ack()
    _user, service = _clicked(body)
    open_modal(client, body["trigger_id"], ModalState(kind="preflight", service=service or None))


def shortcut(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    """*Roll back from this message*: the modal, pre-filled by a worker from the alert rule or
    monitor the message matches."""
    ack()
    message = dict(body.get("message") or {})
    message.setdefault("channel", (body.get("channel") or {}).get("id"))
    open_modal(client, body["trigger_id"], ModalState(kind="rollback"), message)


def selected(values: dict[str, Any], field: ModalField) -> str | None:
    """A select's chosen value in a view's `state.values` (None when nothing is chosen)."""
    chosen = ((values.get(field.value) or {}).get(field.value) or {}).get("selected_option") or {}
    value = chosen.get("value")
    return str(value) if value else None


def changed(ack: Ack, body: dict[str, Any]) -> None:
    """A select of the modal changed: a worker re-fills it (options and preview) in place. A new
    service resets phase and level, a new phase the level."""
    ack()
    view = body.get("view") or {}
    state = ModalState.load(view.get("private_metadata"))
    values = (view.get("state") or {}).get("values") or {}
    action = str(body["actions"][0].get("action_id"))
    state.service = selected(values, ModalField.SERVICE) or state.service
    state.phase = None if action == ModalField.SERVICE else selected(values, ModalField.PHASE) or state.phase
    state.level = None if action != ModalField.LEVEL else selected(values, ModalField.LEVEL)
    state.previewed, state.note = None, None
    try:
        enqueue_fill(str(view.get("id")), state)
    except RedisError:
        logger.exception("modal %s not re-filled: Redis unreachable", view.get("id"))
