"""The one access-refusal path. Listeners mark where a refusal can come from with `refusing(...)`,
saying how it is audited; `answered` (wrapped around every slash command and button listener
when they are registered) audits the refusal and answers ephemerally with its message, e.g.
"Sorry <@U…>, rolling back phase2 requires the `operator` role." — in the ack when the listener
has not acknowledged yet (slash commands), else through the response_url (clicks: nothing is
raised after the ack, so Bolt never answers the click as unhandled).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from redis.exceptions import RedisError
from slack_bolt import Ack, Respond

from bot import deps
from bot.replies import answer, reply
from jobs.core.exceptions import AccessDenied, RollbotError

logger = logging.getLogger(__name__)

Listener = Callable[..., None]


class Refusal(Exception):
    """A refusal on its way to `answered`: what the user reads and how it is audited. Not a
    `RollbotError`, so a listener's own `except RollbotError` lets it pass."""

    def __init__(self, cause: RollbotError, actor: str, action: str, fields: dict[str, Any]) -> None:
        super().__init__(cause.user_message)
        self.user_message = cause.user_message
        self.actor = actor
        self.action = action
        self.fields = fields

    def audit(self) -> None:
        """Audit the refusal; an unreachable Redis never keeps it from being said."""
        try:
            deps.context().audit(actor=self.actor, action=self.action, result="refused", reason=self.user_message,
                                 **self.fields)  # fmt: skip
        except RedisError:
            logger.warning("refusal of %s (%s) not audited: Redis unreachable", self.actor, self.action)


@contextmanager
def refusing(
    actor: str, action: str, *, errors: tuple[type[RollbotError], ...] = (AccessDenied,), **fields: Any
) -> Iterator[None]:
    """Inside, an `AccessDenied` (or any of `errors`) is a refusal of `actor`: audited as `action`
    with `fields`, and said by `answered`. Other errors pass through unchanged."""
    try:
        yield
    except errors as error:
        raise Refusal(error, actor, action, fields) from error


def answered(listener: Listener) -> Listener:
    """Wrap a listener that takes `ack` and `respond` (Bolt still sees its own parameters): a
    `Refusal` it raises is audited and answered, never passed on to Bolt."""

    @functools.wraps(listener)
    def run(ack: Ack, respond: Respond, **payload: Any) -> None:
        try:
            listener(ack=ack, respond=respond, **payload)
        except Refusal as refusal:
            refusal.audit()
            if ack.response is None:
                answer(ack, refusal.user_message)
            else:
                reply(respond, refusal.user_message)

    return run
