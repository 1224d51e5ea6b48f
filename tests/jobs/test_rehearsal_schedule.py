"""Scheduled rehearsals: a chain on RQ's scheduler queues them, real workers run them, and the
readiness card is posted once per change of verdict, never at every rehearsal."""

from __future__ import annotations

from pathlib import Path

from jobs.context import Context
from jobs.runbook.loader import load_runbook
from jobs.runs.readiness import last_rehearsal
from jobs.runs.rehearsal_schedule import ensure_rehearsals, rehearse_due
from tests.bot.test_slack_rollback import channel_posts
from tests.conftest import run_worker, write_runbook
from tests.jobs.test_rehearsal import ready
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.slack import SlackStandIn


def cards(slack: SlackStandIn) -> list[bool]:
    return [c.params["metadata"]["event_payload"]["ready"] for c in channel_posts(slack, "rollbot_readiness")]


def test_scheduled_rehearsals_post_a_readiness_card_once_per_change(
    ctx: Context, env: dict[str, str], repo: Path, tmp_path: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    flag = tmp_path / "broken"
    steps = f"- name: Smoke test\n  run: [sh, -c, 'test ! -f {flag}']\n  rehearse: run\n"
    ready(ctx, env, repo, steps)
    path = write_runbook(Path(env["RUNBOOK"]), repo, steps=steps, extra="rehearsal: {every: 1m}\n")
    book = load_runbook(path)

    assert ensure_rehearsals(ctx, [book]) == ["sandbox"]
    assert ensure_rehearsals(ctx, [book]) == []  # one chain per service
    run_worker(env)  # the tick (monitor queue) queues the rehearsal, which runs next
    assert cards(slack) == [True]
    last = last_rehearsal(ctx, "sandbox", "phase2", "immediate")
    assert last is not None and last.ready
    assert rehearse_due(ctx, book) == []  # rehearsed a moment ago: not due

    def rehearse_again() -> None:
        assert len(rehearse_due(ctx, book, force=True)) == 1
        run_worker(env)

    rehearse_again()
    assert cards(slack) == [True]  # still ready: no card
    flag.write_text("")
    rehearse_again()
    assert cards(slack) == [True, False]  # ready → not ready
    rehearse_again()
    assert cards(slack) == [True, False]
    flag.unlink()
    rehearse_again()
    assert cards(slack) == [True, False, True]  # and back
    rehearsals = [r for r in ctx.runs.recent(10) if r.rehearsal]
    assert len(rehearsals) == 5 and all(r.actor == "rollbot:schedule" for r in rehearsals)
    assert len(channel_posts(slack)) == 5  # each has its run message
    assert not pagerduty.events()  # a failed rehearsal never pages
