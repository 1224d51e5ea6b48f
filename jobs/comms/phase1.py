"""Phase 1 blockers: the findings and the stop criteria that were met, posted as a comment on the
runbook's `tracking_issue` through GitHub's REST API, audited, and the business contacts told that
a stakeholder review is required.
"""

from __future__ import annotations

import logging
import re

import httpx
from slack_sdk.errors import SlackApiError, SlackClientError

from jobs.comms import drafts, mail
from jobs.context import Context
from jobs.core.exceptions import MailError, ServiceRefused
from jobs.runbook.catalog import find_runbook
from jobs.runbook.model import Runbook
from jobs.slack.notifier import alert_channel

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
ISSUE = re.compile(r"^(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)#(?P<number>[0-9]+)$")


def comment(ctx: Context, tracking_issue: str, text: str) -> str:
    """Post `text` as a comment on `owner/repo#N`; returns the comment's URL. `ServiceRefused`
    (`retryable` for 429, 5xx and network errors) otherwise.
    """
    found = ISSUE.match(tracking_issue)
    if found is None:
        raise ServiceRefused(f"`{tracking_issue}` is not owner/repo#number", retryable=False)
    token = ctx.settings.github_token
    if token is None:
        raise ServiceRefused("GITHUB_TOKEN is not set", retryable=False)
    url = (f"{ctx.settings.github_api_url}/repos/{found['owner']}/{found['repo']}/issues/{found['number']}"
           "/comments")  # fmt: skip
    headers = {"Authorization": f"Bearer {token.get_secret_value()}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": "2022-11-28"}  # fmt: skip
    try:
        with httpx.Client(verify=mail.tls_context(ctx.settings), timeout=TIMEOUT_SECONDS) as client:
            response = client.post(url, json={"body": text}, headers=headers)
    except httpx.HTTPError as error:
        raise ServiceRefused(f"GitHub did not answer ({type(error).__name__}: {error})", retryable=True) from error
    if response.status_code >= 400:
        raise ServiceRefused(f"GitHub answered HTTP {response.status_code} for {tracking_issue}: "
                             f"{response.text[:200]}", retryable=response.status_code == 429
                             or response.status_code >= 500, status=response.status_code)  # fmt: skip
    return str(response.json().get("html_url") or url)


def document(
    ctx: Context, service: str, user: str, findings: str, ticked: list[int], phase_name: str = "phase1"
) -> str:
    """The *Document blockers* modal was submitted: comment on the tracking issue, audit, tell the
    channel and the business contacts. A refusal (no issue, 404) is said and audited; the findings
    are then posted in the channel so nothing is lost.
    """
    runbook = find_runbook(ctx, service)
    if runbook is None:
        return "no runbook"
    phase = runbook.phases.get(phase_name)
    criteria = phase.stop_criteria if phase else []
    met = [criteria[i] for i in ticked if 0 <= i < len(criteria)]
    text = drafts.blockers_comment(runbook.service, user, findings, criteria, met)
    where = ""
    try:
        if runbook.tracking_issue is None:
            raise ServiceRefused("the runbook has no `tracking_issue`", retryable=False)
        where = comment(ctx, runbook.tracking_issue, text)
    except ServiceRefused as error:
        ctx.audit(actor=user, action="phase1.blockers", result="failed", service=runbook.service,
                  issue=runbook.tracking_issue, reason=error.user_message, criteria=met)  # fmt: skip
        if error.retryable:
            raise
        _say(ctx, runbook, f"⚠️ Phase 1 blockers from <@{user}> could not be posted on GitHub "
                           f"({error.user_message}). The findings, to copy by hand:\n{text}")  # fmt: skip
    else:
        ctx.audit(actor=user, action="phase1.blockers", result="commented", service=runbook.service,
                  issue=runbook.tracking_issue, url=where, criteria=met)  # fmt: skip
        _say(ctx, runbook, f"📝 Phase 1 blockers from <@{user}> posted on `{runbook.tracking_issue}`: {where}. "
                           "A stakeholder review is required.")  # fmt: skip
    _tell_business(ctx, runbook, user, text, where)
    return "commented" if where else "said in the channel"


def _say(ctx: Context, runbook: Runbook, text: str) -> None:
    try:
        ctx.slack.chat_postMessage(channel=alert_channel(ctx, runbook), text=text)
    except (SlackApiError, SlackClientError, OSError) as error:
        logger.error("phase1 blockers note not posted: %s", error)


def _tell_business(ctx: Context, runbook: Runbook, user: str, text: str, where: str) -> None:
    addresses = drafts.recipients(runbook.contacts.business)
    if not addresses or not mail.configured(ctx.settings):
        return
    body = f"Phase 1 found blockers: a stakeholder review is required.\n\n{text}\n\n{where}"
    try:
        sent = mail.send(ctx.settings, addresses, f"[Stakeholder review required] {runbook.service}: Phase 1 "
                                                   "blockers", body)  # fmt: skip
    except MailError as error:
        ctx.audit(actor=user, action="phase1.notify", result="failed", reason=error.user_message)
        _say(ctx, runbook, f"⚠️ The business contacts were not e-mailed ({error.user_message}): tell them.")
        return
    ctx.audit(actor=user, action="phase1.notify", result="sent", recipients=sent.accepted,
              message_id=sent.message_id)  # fmt: skip
