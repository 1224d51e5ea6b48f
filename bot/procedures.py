"""The break-glass procedures for a terminal: plan, confirm, run here (with or without Redis) or
hand to the workers, and print each step as it ends.
"""

from __future__ import annotations

import signal
import sys

import click
from redis.exceptions import RedisError

from bot import terminal
from bot.live import LiveLine
from bot.startup import redis_answers, write_back_journal
from jobs.context import Context
from jobs.core.exceptions import SettingsError
from jobs.core.redaction import Redactor, configure_logging
from jobs.core.settings import get_settings
from jobs.factory import get_context
from jobs.pagerduty.escalation import RunEscalation
from jobs.records import journal
from jobs.records.runs import RunRecord
from jobs.runbook.catalog import catalog
from jobs.runbook.model import Runbook
from jobs.runs import eta
from jobs.runs.enqueue import cli_actor, create_run, enqueue_run, new_record
from jobs.runs.eta import Estimate
from jobs.runs.plan import Kind, Plan, manual_checklist_items, render_plan, select, with_checkpoint
from jobs.runs.runner import execute_run, execute_without_redis
from jobs.runs.steps import RunObserver
from jobs.tasks import ESCALATION_WAIT_SECONDS


def _stop_from_signal(signum: int, _frame: object) -> None:
    """SIGTERM or SIGHUP (a closed ssh session) stop a terminal run the way Ctrl-C does."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_procedure(kind: Kind, phase: str | None, level: str | None, service: str | None, dry_run: bool, yes: bool,
                   enqueue: bool) -> None:  # fmt: skip
    """Plan, show, confirm, then run here (or enqueue) one procedure; exit 1 unless it succeeds.
    When Redis does not answer, the run goes on without it (break-glass): checkpoint from git,
    the host's local lock, a local journal written back once Redis answers.
    """
    settings = get_settings()
    configure_logging("WARNING", Redactor(settings.secret_values()))
    online = redis_answers()
    if online:
        write_back_journal(f"rollbot {kind}")
    ctx = get_context()
    loaded = catalog(ctx).choose(service, "`--service NAME`")
    plan = select(loaded, kind, phase, level)
    if online:
        checkpoint = ctx.checkpoints.get(loaded.service, plan.phase_name, repo=loaded.repo)
    else:
        checkpoint = ctx.checkpoints.local(loaded.repo, loaded.service, plan.phase_name)
    plan = with_checkpoint(plan, checkpoint)
    click.echo(render_plan(plan))
    estimate = _estimate(ctx, plan) if online else None
    if estimate is not None:
        click.echo("Usual durations:\n" + "\n".join(f"  {line}" for line in eta.plan_lines(plan, estimate)))
    if not online:
        click.echo(
            f"Redis at {settings.redis_location()} does not answer: this {kind} runs without it "
            f"(checkpoint from git, this host's lock; its record goes to the journal in "
            f"{journal.journal_dir(settings.rollbot_state_dir, ctx.keys.namespace)} and back to Redis once it answers)."
        )
    if dry_run:
        click.echo("Dry run: nothing was changed.")
        return
    plan.require_checkpoint()
    if not yes and sys.stdin.isatty():
        click.confirm(f"Run this {kind} now?", abort=True)
    actor = cli_actor()
    if enqueue:
        if not online:
            raise SettingsError("--enqueue needs Redis, which does not answer; run it here without --enqueue")
        record = enqueue_run(ctx, plan, actor)
        click.echo(f"Queued run {record.run_id} for the workers. `rollbot status {record.run_id}` follows it.")
        return
    final = _run_here(ctx, plan, loaded, actor, online, estimate)
    click.echo(terminal.run_result(final))
    _where_recorded(ctx, final, online)
    if kind == "rollback" and final.status != "refused":
        click.echo(f"Incident report: `rollbot report {final.run_id}`.")
    if kind == "validation" and (manual := manual_checklist_items(loaded)):
        click.echo("Verify by hand:\n" + "\n".join(f"  [ ] {item}" for item in manual))
    if final.status != "succeeded":
        sys.exit(1)


def _estimate(ctx: Context, plan: Plan) -> Estimate | None:
    """The plan's usual durations (None when Redis stops answering: the run goes on without them)."""
    try:
        return eta.for_plan(ctx.redis, ctx.keys, plan)
    except RedisError:
        return None


def _run_here(ctx: Context, plan: Plan, loaded: Runbook, actor: str, online: bool,
              estimate: Estimate | None = None) -> RunRecord:  # fmt: skip
    """Execute the plan in this process, printing each step (and a live line for the running one);
    Ctrl-C cancels, Ctrl-Z is refused.
    """
    if online:
        for other in ctx.runs.active():
            if other.service == loaded.service and other.status == "queued":
                click.echo(
                    f"Note: run {other.run_id} is queued for the workers; `rollbot cancel {other.run_id}` "
                    "if it should not run after this one."
                )
        record = create_run(ctx, plan, actor)
    else:
        record = new_record(plan, actor, ctx.clock())
    click.echo(f"Run {record.run_id} started by {actor}" + ("." if online else ", without Redis."))
    escalations = RunEscalation(ctx, record.run_id) if online else None
    printer = lambda step: terminal.print_step(step, len(plan.steps))  # noqa: E731
    live = LiveLine(estimate or Estimate([None] * len(plan.steps), plan.budget), len(plan.steps))
    observers: list[RunObserver] = [live, printer, escalations.changed] if escalations else [live, printer]
    handlers = {sig: _stop_from_signal for sig in (signal.SIGTERM, signal.SIGHUP)} | {signal.SIGTSTP: _refuse_suspend}
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        if online:
            final = execute_run(ctx, record.run_id, loaded, observers=observers)
        else:
            final = execute_without_redis(ctx, record, loaded, observers=observers)
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted: run {record.run_id} was cancelled and its steps stopped.", err=True)
        sys.exit(130)
    finally:
        live.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if escalations:
        escalations.wait(ESCALATION_WAIT_SECONDS)
    return final


def _refuse_suspend(_signum: int, _frame: object) -> None:
    """Ctrl-Z during a run: suspending would let the run's lease lapse while its steps go on."""
    click.echo(
        "\nrollbot: not suspending: the run goes on (a suspended run loses its lease and its lock). Ctrl-C cancels it.",
        err=True,
    )


def _where_recorded(ctx: Context, final: RunRecord, online: bool) -> None:
    """Say where the run's record is when Redis did not have it all along."""
    path = journal.journal_dir(ctx.settings.rollbot_state_dir, ctx.keys.namespace) / f"{final.run_id}.jsonl"
    if path.exists():
        click.echo(
            f"Run {final.run_id} was made without Redis (it did not answer); its record is in {path} and is "
            "written back by the next rollbot command that reaches Redis (or `rollbot sync`)."
        )
    elif not online:
        click.echo(f"Run {final.run_id} was made without Redis; Redis answered again and has its record now.")
