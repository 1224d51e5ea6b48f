"""Scheduled rehearsals: a chain on RQ's scheduler queues them, real workers run them, and the
readiness card is posted once per change of verdict, never at every rehearsal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from jobs.context import Context
from jobs.core.redis_values import text
from jobs.runbook.loader import load_runbook
from jobs.runs.lifecycle import cancel_run
from jobs.runs.readiness import LastRehearsal, last_rehearsal
from jobs.runs.rehearsal import enqueue_rehearsal, plan_rehearsal
from jobs.runs.rehearsal_schedule import ensure_rehearsals, rehearse_due
from tests.conftest import run_worker, start_worker, stop_worker, wait_for, write_runbook
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.slack import SlackStandIn
from tests.support.cli import rollbot
from tests.support.rehearsals import no_scratch_left, ready, snapshot
from tests.support.slack import channel_posts


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


def test_a_rehearsal_cancelled_on_a_worker_removes_its_clone(ctx: Context, env: dict[str, str], repo: Path) -> None:
    steps = "- name: Slow smoke test\n  run: [sleep, '30']\n  rehearse: run\n"
    ready(ctx, env, repo, steps)
    before = snapshot(repo)
    book = load_runbook(Path(env["RUNBOOK"]))
    record = enqueue_rehearsal(ctx, plan_rehearsal(ctx, book, "phase2", None), "U0ONCALL")
    worker = start_worker(env, "--queues", "validation")
    try:
        wait_for(lambda: (r := ctx.runs.get(record.run_id).current_step) is not None and r.index == 1,
                 message="the slow step")  # fmt: skip
        cancel_run(ctx, record.run_id, "U0ONCALL")
        wait_for(lambda: not ctx.runs.get(record.run_id).is_active, message="the rehearsal's end")
        wait_for(lambda: no_scratch_left(env), message="the clone's removal")
    finally:
        stop_worker(worker)
    final = ctx.runs.get(record.run_id)
    assert final.status == "cancelled" and final.cancelled_by == "U0ONCALL"
    assert snapshot(repo) == before and no_scratch_left(env)


def test_readiness_counts_stale_rehearsals_and_old_checkpoints_as_not_ready(
    ctx: Context, env: dict[str, str], repo: Path
) -> None:
    ready(ctx, env, repo, "- name: Smoke test\n  run: [echo, ok]\n  rehearse: run\n")
    write_runbook(Path(env["RUNBOOK"]), repo, steps="- name: Smoke test\n  run: [echo, ok]\n  rehearse: run\n",
                  extra="rehearsal: {every: 1h}\nreadiness: {max_checkpoint_age: 1d}\n")  # fmt: skip
    never = rollbot(env, "readiness")
    assert never.returncode == 1 and "sandbox phase2 immediate: not ready: never rehearsed" in never.stdout

    assert rollbot(env, "rehearse", "phase2").returncode == 0
    fresh = rollbot(env, "readiness")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "sandbox phase2 immediate: ready — checkpoint" in fresh.stdout and "(ready)" in fresh.stdout

    key = ctx.keys.rehearsal_verdict("sandbox", "phase2", "immediate")
    last = LastRehearsal.model_validate_json(text(ctx.redis.hget(key, "last")))
    ctx.redis.hset(key, "last", last.model_copy(update={"at": last.at - timedelta(hours=3)}).model_dump_json())
    stale = rollbot(env, "readiness")
    assert stale.returncode == 1 and "more than twice every 1h" in stale.stdout

    checkpoint = ctx.checkpoints.get("sandbox", "phase2")
    assert checkpoint is not None
    old = checkpoint.model_copy(update={"taken_at": checkpoint.taken_at - timedelta(days=3)})
    ctx.redis.set(ctx.keys.checkpoint("sandbox", "phase2"), old.model_dump_json())
    aged = rollbot(env, "rehearse", "phase2")
    assert aged.returncode == 1 and "old (more than 24h)" in aged.stdout
