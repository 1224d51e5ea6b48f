"""`rollbot rehearse` and `rollbot readiness`: prove a rollback level on a scratch clone from this
terminal, and list how ready every level is.
"""

from __future__ import annotations

import signal
import sys

import click

from bot import terminal
from bot.live import LiveLine
from bot.startup import redis_answers, write_back_journal
from jobs.core.exceptions import NoCheckpointError, SettingsError
from jobs.core.redaction import Redactor, configure_logging
from jobs.core.settings import get_settings
from jobs.factory import get_context
from jobs.records.runs import StepRecord
from jobs.runbook.catalog import catalog
from jobs.runs import eta, readiness
from jobs.runs.enqueue import cli_actor
from jobs.runs.plan import render_plan
from jobs.runs.rehearsal import create_rehearsal, execute_rehearsal, plan_rehearsal


def _online(what: str) -> None:
    settings = get_settings()
    configure_logging("WARNING", Redactor(settings.secret_values()))
    if not redis_answers():
        raise SettingsError(f"Redis at {settings.redis_location()} does not answer: {what} needs it to keep its record")
    write_back_journal(f"rollbot {what}")


def _stop_from_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def rehearse(phase: str, level: str | None, service: str | None) -> None:
    """Rehearse a level here; exit 0 only when it is ready (1 otherwise, also without a checkpoint)."""
    _online("rehearse")
    ctx = get_context()
    book = catalog(ctx).choose(service, "`--service NAME`")
    plan = plan_rehearsal(ctx, book, phase, level)
    click.echo(render_plan(plan).replace("Rollback — ", "Rehearsal — ", 1))
    estimate = eta.for_plan(ctx.redis, ctx.keys, plan)
    click.echo("Usual durations:\n" + "\n".join(f"  {line}" for line in eta.plan_lines(plan, estimate)))
    try:
        plan.require_checkpoint()
    except NoCheckpointError as error:
        click.echo(f"rollbot: {error.user_message}", err=True)
        sys.exit(1)
    record = create_rehearsal(ctx, plan, cli_actor())
    click.echo(f"Rehearsal {record.run_id} started on a scratch clone of {book.repo}; nothing real is changed.")
    live = LiveLine(estimate, len(plan.steps))

    def printer(step: StepRecord | None) -> None:
        terminal.print_step(step, len(plan.steps))

    previous = {sig: signal.signal(sig, _stop_from_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        result = execute_rehearsal(ctx, record.run_id, book, observers=[live, printer])
    except KeyboardInterrupt:
        click.echo(f"\nInterrupted: rehearsal {record.run_id} was cancelled; its scratch clone is removed.", err=True)
        sys.exit(130)
    finally:
        live.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(readiness.result_text(result, ctx.clock()))
    if not result.ready:
        sys.exit(1)


def show_readiness(service: str | None, as_json: bool) -> None:
    """Every service, phase and level with checkpoint age, last rehearsal and expected duration."""
    _online("readiness")
    ctx = get_context()
    books = catalog(ctx)
    chosen = [books.choose(service, "`--service NAME`")] if service else list(books)
    rows = readiness.rows(ctx, chosen, ctx.clock(), from_git=True)
    now = ctx.clock()
    for row in rows:
        click.echo(readiness.as_json(row) if as_json else readiness.row_text(row, now))
    if not rows:
        click.echo("No level to roll back in the runbook.")
    if not all(row.ready for row in rows):
        sys.exit(1)
