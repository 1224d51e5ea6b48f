"""The App Home and the rollback modal over real HTTP: signed requests to `rollbot web`, real workers,
real git, the Slack stand-in. Every view the bot sends is checked with slack_sdk's `View` model."""

from __future__ import annotations

import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from jobs.context import Context
from tests.conftest import LEAD, ONCALL, STRANGER, git, run_worker, write_runbook
from tests.standins.signed import JSON_HEADERS, command_body, event_body, signed_post
from tests.standins.slack import Call, SlackStandIn
from tests.support.runs import ready_repo
from tests.support.slack import channel_posts, final_state
from tests.support.views import valid_view

ALERT_RULE = """\
alerts:
  - name: golden-path-monitor
    pattern: 'CRITICAL: Golden Path health at (?P<value>[0-9.]+)%'
    metric: golden_path.success_rate
    phase: phase2
    level: immediate
    mode: suggest
"""


def interactive(web: str, payload: dict[str, Any]) -> httpx.Response:
    """A signed interactivity request (view submissions, clicks in views, shortcuts)."""
    base = {"team": {"id": "T0TEST", "domain": "test"}, "api_app_id": "A0ROLLBOT", "token": "legacy",
            "trigger_id": "9.8.7"}  # fmt: skip
    response = signed_post(f"{web}/slack/events", urlencode({"payload": json.dumps(base | payload)}))
    assert response.status_code == 200, response.text
    return response


def views(slack: SlackStandIn, method: str) -> list[dict[str, Any]]:
    """The views sent with `method`, each checked as valid Block Kit."""
    sent = []
    for call in slack.calls_to(method):
        view = call.params["view"]
        view = json.loads(view) if isinstance(view, str) else view
        valid_view(view)
        sent.append(call.params | {"view": view})
    return sent


def open_modal(web: str, slack: SlackStandIn, env: dict[str, str], user: str = ONCALL) -> dict[str, Any]:
    """`/rollback` with no text, then a worker fills the modal: the filled view (with its id)."""
    started = time.monotonic()
    response = signed_post(f"{web}/slack/events", command_body("/rollback", "", user, slack.response_url()))
    assert response.status_code == 200 and time.monotonic() - started < 3
    opened = slack.wait_for(lambda calls: any(c.method == "views.open" for c in calls), timeout=10)
    call = next(c for c in opened if c.method == "views.open")
    assert call.params["trigger_id"] == "1.2.3"
    view = views(slack, "views.open")[0]["view"]
    assert view["callback_id"] == "rollback_modal"
    run_worker(env)
    update = views(slack, "views.update")[-1]
    filled: dict[str, Any] = update["view"] | {"id": update["view_id"]}
    return filled


def submission(view: dict[str, Any], user: str, phase: str = "phase2", level: str = "immediate") -> dict[str, Any]:
    """A `view_submission` payload choosing `phase` and `level` in the filled `view`."""
    values = {"modal_service": {"modal_service": {"type": "static_select", "selected_option": {"value": "sandbox"}}},
              "modal_phase": {"modal_phase": {"type": "static_select", "selected_option": {"value": phase}}},
              "modal_level": {"modal_level": {"type": "static_select", "selected_option": {"value": level}}}}  # fmt: skip
    return {"type": "view_submission", "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
            "view": {**view, "state": {"values": values}}}  # fmt: skip


def submit(web: str, view: dict[str, Any], user: str = ONCALL, **choice: str) -> dict[str, Any]:
    response = interactive(web, submission(view, user, **choice))
    return response.json() if response.content else {}


def test_app_home_opened_publishes_the_dashboard_for_that_user(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo)
    event = {"type": "app_home_opened", "user": ONCALL, "channel": "D0HOME", "tab": "home", "event_ts": "1.2"}
    response = signed_post(f"{web}/slack/events", event_body(event), headers=JSON_HEADERS)
    assert response.status_code == 200
    run_worker(env)

    published = views(slack, "views.publish")
    assert len(published) == 1 and published[0]["user_id"] == ONCALL
    home = published[0]["view"]
    assert home["type"] == "home"
    text = json.dumps(home, ensure_ascii=False)
    checkpoint = ctx.checkpoints.get("sandbox", "phase2")
    assert checkpoint is not None
    for expected in ("sandbox", checkpoint.tag, "preflight phase2"):
        assert expected in text
    ids = json.dumps(home["blocks"])
    assert all(a in ids for a in ("home_rollback", "home_preflight", "home_refresh"))


def test_the_modal_submission_starts_the_run_that_resets_to_the_checkpoint(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    good, _bad = ready_repo(ctx, env, repo)
    checkpoint = ctx.checkpoints.get("sandbox", "phase2")
    assert checkpoint is not None
    view = open_modal(web, slack, env)
    assert view["submit"]["text"] == "Roll back"
    preview = json.dumps(view, ensure_ascii=False)
    assert checkpoint.tag in preview and checkpoint.commit[:12] in preview and "30m" in preview

    answer = submit(web, view)
    assert answer["response_action"] == "update", answer
    assert "Confirmed by <@U0ONCALL>" in json.dumps(answer["view"]) and valid_view(answer["view"])
    record = ctx.runs.recent(1)[0]
    assert record.kind == "rollback" and record.phase == "phase2" and record.actor == ONCALL
    run_worker(env)

    assert ctx.runs.get(record.run_id).status == "succeeded"
    assert git(repo, "rev-parse", "HEAD") == good == checkpoint.commit
    assert channel_posts(slack)[0].params["channel"] == "#critical-alerts"
    assert final_state(slack)["status"] == "succeeded"


def test_five_concurrent_submissions_start_exactly_one_run(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo)
    view = open_modal(web, slack, env)
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _i: submit(web, view), range(5)))
    assert all(a.get("response_action") in ("update", "errors") for a in answers), answers
    assert sum(1 for a in answers if a["response_action"] == "update") >= 1
    rollbacks = [r for r in ctx.runs.recent(20) if r.kind == "rollback"]
    assert len(rollbacks) == 1


def test_a_stranger_can_look_but_not_submit(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo)
    view = open_modal(web, slack, env, user=STRANGER)
    assert "Factory Pattern Consolidation" in json.dumps(view)
    answer = submit(web, view, user=STRANGER)
    assert answer["response_action"] == "errors"
    assert "requires the `operator` role" in answer["errors"]["modal_level"]
    assert not [r for r in ctx.runs.recent(20) if r.kind == "rollback"]


def test_a_plan_without_a_checkpoint_cannot_be_submitted_and_names_the_preflight(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo)
    view = open_modal(web, slack, env)
    assert "submit" not in view and "/preflight phase2" in json.dumps(view)
    answer = submit(web, view)
    assert answer["response_action"] == "errors" and "/preflight phase2" in answer["errors"]["modal_phase"]
    assert not ctx.runs.recent(5)


def test_a_changed_select_refills_the_preview_and_a_stale_submission_is_refused(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo, phase3=True)
    view = open_modal(web, slack, env)
    changed = submission(view, ONCALL, phase="phase3", level="level1")
    interactive(web, {**changed, "type": "block_actions",
                      "actions": [{"action_id": "modal_phase", "block_id": "modal_phase", "type": "static_select",
                                   "selected_option": {"value": "phase3"}}]})  # fmt: skip
    stale = submit(web, view, phase="phase3", level="level1")  # before the worker re-filled it
    assert stale["response_action"] == "errors" and "being updated" in stale["errors"]["modal_phase"]
    run_worker(env)
    refilled = views(slack, "views.update")[-1]["view"]
    assert "Implementation Consolidation" in json.dumps(refilled)
    assert not [r for r in ctx.runs.recent(20) if r.kind == "rollback"]


def test_the_two_person_rule_holds_for_the_modal(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo, phase3=True)
    view = open_modal(web, slack, env)
    # phase3's checkpoint is not taken: level3 (two-person) needs none; it is chosen through the select
    interactive(web, {**submission(view, LEAD, phase="phase3", level="level3"), "type": "block_actions",
                      "actions": [{"action_id": "modal_level", "block_id": "modal_level", "type": "static_select",
                                   "selected_option": {"value": "level3"}}]})  # fmt: skip
    run_worker(env)
    view = views(slack, "views.update")[-1]["view"] | {"id": view["id"]}
    assert "Two-person rule" in json.dumps(view) and "U0LEAD" in json.dumps(view)
    answer = submit(web, view, user=ONCALL, phase="phase3", level="level3")
    assert answer["response_action"] == "update", answer
    assert not [r for r in ctx.runs.recent(20) if r.kind == "rollback"]  # waits for the second person
    assert ctx.redis.exists(*[k for k in ctx.redis.scan_iter(match=f"{env['ROLLBOT_NAMESPACE']}:approval:*")])


def test_the_message_shortcut_prefills_from_the_matching_alert_rule_or_says_none_matched(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo, phase3=True, extra=ALERT_RULE)
    message = {"type": "message", "user": "U0MONITOR", "ts": "1700000000.000200",
               "text": "CRITICAL: Golden Path health at 85% - Triggering rollback"}  # fmt: skip
    shortcut = {"type": "message_action", "callback_id": "rollback_from_message", "user": {"id": ONCALL},
                "channel": {"id": "C0ALERTS", "name": "critical-alerts"}, "message": message,
                "response_url": slack.response_url()}  # fmt: skip
    interactive(web, shortcut)
    slack.wait_for(lambda calls: any(c.method == "views.open" for c in calls), timeout=10)
    assert views(slack, "views.open")[0]["trigger_id"] == "9.8.7"
    run_worker(env)
    filled = views(slack, "views.update")[-1]["view"]
    text = json.dumps(filled)
    assert "golden-path-monitor" in text and "Factory Pattern Consolidation" in text
    phase = next(b for b in filled["blocks"] if b.get("block_id") == "modal_phase")
    assert phase["element"]["initial_option"]["value"] == "phase2"

    slack.reset()
    interactive(web, {**shortcut, "message": {**message, "text": "lunch is ready"}})
    slack.wait_for(lambda calls: any(c.method == "views.open" for c in calls), timeout=10)
    run_worker(env)
    assert "matches no alert rule" in json.dumps(views(slack, "views.update")[-1]["view"])


def test_open_homes_are_refreshed_when_a_run_changes(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    ready_repo(ctx, env, repo)
    event = {"type": "app_home_opened", "user": LEAD, "channel": "D0HOME", "tab": "home", "event_ts": "1.2"}
    signed_post(f"{web}/slack/events", event_body(event), headers=JSON_HEADERS)
    run_worker(env)
    assert len(views(slack, "views.publish")) == 1
    view = open_modal(web, slack, env)
    assert submit(web, view)["response_action"] == "update"
    run_worker(env)  # the run, then the refresh it asked for

    published: list[Call] = slack.calls_to("views.publish")
    assert len(published) >= 2 and all(c.params["user_id"] == LEAD for c in published)
    last = json.dumps(views(slack, "views.publish")[-1]["view"])
    assert "succeeded" in last
    times = [c.at for c in published[1:]]
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(times))


def home_click(web: str, action_id: str, user: str = ONCALL) -> None:
    """A click on a Home tab button (no response_url: the Home is a view)."""
    interactive(web, {"type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": "T0TEST"},
                      "container": {"type": "view", "view_id": "VHOME"}, "view": {"id": "VHOME", "type": "home"},
                      "actions": [{"action_id": action_id, "block_id": "home-sandbox", "value": "sandbox",
                                   "type": "button", "action_ts": str(time.time())}]})  # fmt: skip


def test_home_buttons_open_the_forms_and_the_preflight_form_records_the_checkpoint(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo)
    home_click(web, "home_rollback")
    slack.wait_for(lambda calls: any(c.method == "views.open" for c in calls), timeout=10)
    assert views(slack, "views.open")[0]["trigger_id"] == "9.8.7"
    assert views(slack, "views.open")[0]["view"]["callback_id"] == "rollback_modal"
    slack.reset()

    home_click(web, "home_preflight")
    slack.wait_for(lambda calls: any(c.method == "views.open" for c in calls), timeout=10)
    assert views(slack, "views.open")[0]["view"]["callback_id"] == "preflight_modal"
    run_worker(env)
    update = views(slack, "views.update")[-1]
    view = update["view"] | {"id": update["view_id"]}
    assert view["submit"]["text"] == "Pre-flight" and "modal_level" not in json.dumps(view["blocks"])
    values = {"modal_service": {"modal_service": {"selected_option": {"value": "sandbox"}}},
              "modal_phase": {"modal_phase": {"selected_option": {"value": "phase2"}}}}  # fmt: skip
    answer = interactive(web, {"type": "view_submission", "user": {"id": ONCALL},
                               "view": {**view, "state": {"values": values}}}).json()  # fmt: skip
    assert answer["response_action"] == "update", answer
    run_worker(env)
    record = ctx.runs.recent(1)[0]
    assert record.kind == "preflight" and ctx.runs.get(record.run_id).status == "succeeded"
    assert ctx.checkpoints.get("sandbox", "phase2") is not None

    slack.reset()
    home_click(web, "home_refresh", user=LEAD)
    run_worker(env)
    published = views(slack, "views.publish")
    assert [p["user_id"] for p in published] == [LEAD]
    assert "pre-factory-consolidation" in json.dumps(published[0]["view"])
