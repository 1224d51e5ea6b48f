"""The status page clock: a customer-facing incident still open after `status_page_after` gets a
drafted update with *Publish*; publishing creates the incident on Atlassian Statuspage (REST v1),
and once it resolves, the resolution is offered and publishing it sets it `resolved`.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from jobs.comms import drafts, mail
from jobs.context import Context
from jobs.core.exceptions import ServiceRefused
from jobs.pagerduty.events import sync_card
from jobs.pagerduty.inbound import thread_note
from jobs.records.incidents import Incident
from jobs.runbook.catalog import find_runbook
from jobs.runbook.model import Runbook
from jobs.slack import blocks

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10


def configured(ctx: Context) -> bool:
    """Whether Statuspage can be called (`STATUSPAGE_API_KEY` and `STATUSPAGE_PAGE_ID`)."""
    return ctx.settings.statuspage_api_key is not None and ctx.settings.statuspage_page_id is not None


def _address(ctx: Context, runbook: Runbook) -> str | None:
    """Where to paste a draft when Statuspage is not configured (the runbook's customer contacts)."""
    if configured(ctx):
        return None
    return "; ".join(c.label for c in runbook.contacts.customer) or "your status page"


def _post_draft(ctx: Context, incident: Incident, runbook: Runbook, resolution: bool) -> None:
    update = drafts.status_update(incident, runbook, resolved=resolution)
    text, draft = blocks.statuspage_draft(incident.key, update.title, update.status, update.body, update.component_id,
                                          _address(ctx, runbook), resolution)  # fmt: skip
    ctx.slack.chat_postMessage(channel=incident.channel or "", thread_ts=incident.ts, text=text, blocks=draft)
    ctx.audit(actor="rollbot", action="statuspage.draft", result="posted", key=incident.key,
              resolution=resolution)  # fmt: skip


def due(ctx: Context, key: str) -> str:
    """`status_page_after` passed: post the drafted update if the incident is still open and
    customer-facing (once).
    """
    incident = ctx.incidents.get(key)
    if incident is None or not incident.is_open or incident.customer_facing_by is None:
        return "not needed"
    runbook = find_runbook(ctx, incident.service)
    if runbook is None or not ctx.redis.set(f"{ctx.keys.incident(key)}:statuspage-draft", "1", nx=True, ex=86400):
        return "not needed"
    _post_draft(ctx, incident, runbook, resolution=False)
    return "posted"


def offer_resolution(ctx: Context, key: str) -> str:
    """The incident resolved and its status page incident is published: offer the resolution (once)."""
    incident = ctx.incidents.get(key)
    if incident is None or incident.is_open or not incident.statuspage_id or incident.statuspage_resolved_at:
        return "not needed"
    runbook = find_runbook(ctx, incident.service)
    if runbook is None or not ctx.redis.set(f"{ctx.keys.incident(key)}:statuspage-resolution", "1", nx=True,
                                            ex=86400):  # fmt: skip
        return "not needed"
    _post_draft(ctx, incident, runbook, resolution=True)
    return "posted"


def _request(ctx: Context, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    key = ctx.settings.statuspage_api_key.get_secret_value() if ctx.settings.statuspage_api_key else ""
    url = f"{ctx.settings.statuspage_api_url}{path}"
    try:
        with httpx.Client(verify=mail.tls_context(ctx.settings), timeout=TIMEOUT_SECONDS) as client:
            response = client.request(method, url, json=body, headers={"Authorization": f"OAuth {key}"})
    except httpx.HTTPError as error:
        raise ServiceRefused(f"Statuspage did not answer ({type(error).__name__}: {error})", retryable=True) from error
    if response.status_code >= 400:
        retryable = response.status_code == 429 or response.status_code >= 500
        raise ServiceRefused(f"Statuspage answered HTTP {response.status_code}: {response.text[:300]}",
                             retryable=retryable, status=response.status_code)  # fmt: skip
    answer: dict[str, Any] = response.json()
    return answer


def publish(ctx: Context, value: str, user: str) -> str:
    """*Publish* was clicked: create the status page incident (`value` is the incident key), or set
    it resolved (`resolve:<key>`). Refusals (4xx) are said in the thread and audited, never retried;
    `ServiceRefused` is raised (the job is retried) while Statuspage does not answer or fails (5xx).
    """
    resolution = value.startswith("resolve:")
    key = value.removeprefix("resolve:")
    incident = ctx.incidents.get(key)
    runbook = find_runbook(ctx, incident.service) if incident else None
    if incident is None or runbook is None or not configured(ctx):
        return "not possible"
    if incident.statuspage_resolved_at if resolution else incident.statuspage_id:
        return "already published"
    if resolution and not incident.statuspage_id:
        return "nothing to resolve"
    claim = f"{ctx.keys.incident(key)}:statuspage-publish:{'resolve' if resolution else 'open'}"
    if not ctx.redis.set(claim, "1", nx=True, ex=60):
        return "being published"
    try:
        return _publish(ctx, incident, runbook, user, resolution)
    finally:
        ctx.redis.delete(claim)


def _publish(ctx: Context, incident: Incident, runbook: Runbook, user: str, resolution: bool) -> str:
    update = drafts.status_update(incident, runbook, resolved=resolution)
    fields: dict[str, Any] = {"name": update.title, "status": update.status, "body": update.body}
    if update.component_id:
        fields["component_ids"] = [update.component_id]
        fields["components"] = {update.component_id: "operational" if resolution else "major_outage"}
    page = ctx.settings.statuspage_page_id
    try:
        if resolution:
            answer = _request(ctx, "PATCH", f"/v1/pages/{page}/incidents/{incident.statuspage_id}",
                              {"incident": fields})  # fmt: skip
        else:
            answer = _request(ctx, "POST", f"/v1/pages/{page}/incidents", {"incident": fields})
    except ServiceRefused as error:
        ctx.audit(actor=user, action="statuspage.publish", result="failed", key=incident.key,
                  resolution=resolution, reason=error.user_message)  # fmt: skip
        if error.retryable:
            raise
        thread_note(ctx, incident, f"⚠️ Statuspage refused it for <@{user}>: {error.user_message}. Publish it "
                                   "on the status page by hand, or fix it and click *Publish* again.")  # fmt: skip
        return "refused"
    now = ctx.clock()

    def record(current: Incident) -> None:
        if resolution:
            current.statuspage_resolved_at = now
        else:
            current.statuspage_id = str(answer.get("id") or "")

    updated = ctx.incidents.update(incident.key, record) or incident
    ctx.audit(actor=user, action="statuspage.publish", result="published", key=incident.key,
              statuspage_id=updated.statuspage_id, status=update.status)  # fmt: skip
    link = answer.get("shortlink") or answer.get("id")
    thread_note(ctx, updated, f"📣 Status page {'resolution' if resolution else 'incident'} published by <@{user}> "
                              f"({link}).")  # fmt: skip
    sync_card(ctx, incident.key)
    return "published"
