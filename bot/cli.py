"""The `rollbot` command: processes (worker, web) and the break-glass procedures for a terminal."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from redis.exceptions import RedisError

from bot import terminal
from bot.startup import redis_answers, write_back_journal
from jobs.core.durations import parse_duration
from jobs.core.exceptions import RollbotError, RunbookError, SettingsError, UnknownTargetError
from jobs.core.keys import QUEUE_NAMES
from jobs.core.redaction import Redactor, configure_logging
from jobs.core.settings import Process, Settings, get_settings
from jobs.factory import get_context, get_redis
from jobs.records import audit, journal
from jobs.runbook.catalog import catalog, load_catalog, runbook_files, runbook_for
from jobs.runbook.loader import load_runbook, load_runbook_cached
from jobs.runbook.model import Runbook
from jobs.runs.enqueue import cli_actor
from jobs.runs.lifecycle import cancel_run, sweep_interrupted

# The procedures, rehearsals, reports and the worker are imported by the commands that use them:
# `rollbot web` forks its gunicorn workers from this process, and every module imported here is
# memory each of them carries without ever using it.

logger = logging.getLogger(__name__)


def _settings(process: Process) -> Settings:
    settings = get_settings()
    settings.require(process)
    return settings


def _start(process: Process, log_level: str | None = None) -> Settings:
    """Read and check settings for `process`, set up redacted logging, make sure Redis answers,
    and write back the journal of runs this host made while it did not.
    """
    settings = _settings(process)
    configure_logging(log_level or settings.log_level, Redactor(settings.secret_values()))
    try:
        get_redis().ping()
    except RedisError as error:
        raise SettingsError(f"Redis at {settings.redis_location()} does not answer: {error}") from error
    write_back_journal(f"rollbot {process}")
    return settings


@click.group()
def cli() -> None:
    """rollbot: emergency rollbacks as runbook-as-code, from Slack or from this terminal."""


@cli.group()
def runbook() -> None:
    """Runbook tools."""


@runbook.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def runbook_check(path: Path | None) -> None:
    """Validate a runbook (default: $RUNBOOK) and print its phases, levels and budgets."""

    path = path or get_settings().runbook
    if not path.is_dir():
        click.echo(terminal.runbook_summary(path, load_runbook(path)))
        return
    unreadable = set()
    for file in runbook_files(path):
        try:  # cached: the catalog below reads each file once more only if it changed
            click.echo(terminal.runbook_summary(file, load_runbook_cached(file)))
        except RunbookError as error:
            click.echo(error.user_message, err=True)
            unreadable.add(str(file))
    try:
        books = load_catalog(path)  # what the files must agree on: one service each, one alert channel
    except RunbookError:
        sys.exit(1)  # no file loads; each said why above
    for name, problem in books.broken.items():
        if name not in unreadable:
            click.echo(problem.user_message, err=True)
    click.echo(f"{path}: {len(books)} services ({', '.join(books.services)})")
    if books.broken:
        click.echo(f"{len(books.broken)} runbook(s) not used: the other services work without them.", err=True)
        sys.exit(1)


SERVICE_OPTION = click.option(
    "--service", help="The service, when RUNBOOK is a folder of several runbooks (default: the only one)."
)


@cli.command()
@click.argument("phase")
@click.option("--level", help="Rollback level (default: the phase's first).")
@click.option("--dry-run", is_flag=True, help="Print the resolved plan and change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--enqueue", is_flag=True, help="Hand the run to the workers instead of running it here.")
@SERVICE_OPTION
def rollback(phase: str, level: str | None, dry_run: bool, yes: bool, enqueue: bool, service: str | None) -> None:
    """Roll PHASE back (break-glass: runs here, without Slack or workers, unless --enqueue)."""
    from bot.procedures import run_procedure  # noqa: PLC0415 - the runner, executor and escalation

    run_procedure("rollback", phase, level, service, dry_run, yes, enqueue)


@cli.command()
@click.argument("phase")
@click.option("--dry-run", is_flag=True, help="Print the resolved plan and change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--enqueue", is_flag=True, help="Hand the run to the workers instead of running it here.")
@SERVICE_OPTION
def preflight(phase: str, dry_run: bool, yes: bool, enqueue: bool, service: str | None) -> None:
    """Record PHASE's checkpoint and run its pre-flight safety checks."""
    from bot.procedures import run_procedure  # noqa: PLC0415 - the runner, executor and escalation

    run_procedure("preflight", phase, None, service, dry_run, yes, enqueue)


@cli.command()
@click.argument("phase", required=False)
@click.option("--dry-run", is_flag=True, help="Print the resolved plan and change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--enqueue", is_flag=True, help="Hand the run to the workers instead of running it here.")
@SERVICE_OPTION
def validate(phase: str | None, dry_run: bool, yes: bool, enqueue: bool, service: str | None) -> None:
    """Run PHASE's validation steps and the recovery checklist's commands."""
    from bot.procedures import run_procedure  # noqa: PLC0415 - the runner, executor and escalation

    run_procedure("validation", phase, None, service, dry_run, yes, enqueue)


@cli.command()
@click.argument("phase")
@click.argument("level", required=False)
@SERVICE_OPTION
def rehearse(phase: str, level: str | None, service: str | None) -> None:
    """Rehearse PHASE's LEVEL on a scratch clone (nothing real changes); exit 0 only when ready."""
    from bot import rehearsals  # noqa: PLC0415 - the rehearsal's executor

    rehearsals.rehearse(phase, level, service)


@cli.command()
@SERVICE_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per level.")
def readiness(service: str | None, as_json: bool) -> None:
    """Every level's readiness: checkpoint age, last rehearsal, expected duration vs budget."""
    from bot import rehearsals  # noqa: PLC0415 - the rehearsal's executor

    rehearsals.show_readiness(service, as_json)


@cli.command()
@click.argument("run_id")
def cancel(run_id: str) -> None:
    """Cancel a queued or running run (its step processes are killed)."""

    _start("cli", log_level="WARNING")
    record = cancel_run(get_context(), run_id, cli_actor())
    state = "cancelled" if record.status == "cancelled" else "cancel requested; its steps are being stopped"
    click.echo(f"Run {run_id}: {state}.")


@cli.command()
@click.argument("run_id", required=False)
def status(run_id: str | None) -> None:
    """Show one run, or every queued and running run."""

    _start("cli", log_level="WARNING")
    ctx = get_context()
    sweep_interrupted(ctx)
    if run_id:
        click.echo(terminal.run_details(ctx.runs.get(run_id)))
        return
    active = ctx.runs.active()
    click.echo("\n".join(terminal.run_line(r) for r in active) if active else "No run is queued or running.")


@cli.command()
@click.option("--count", default=10, show_default=True, help="How many runs.")
def history(count: int) -> None:
    """The most recent runs, newest first."""

    _start("cli", log_level="WARNING")
    runs = get_context().runs.recent(count, steps=False)
    click.echo("\n".join(terminal.run_line(r) for r in runs) if runs else "No runs yet.")


@cli.command()
@click.argument("run_id")
@click.option("--chart", "chart", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the golden-path chart (PNG) to this file.")  # fmt: skip
def report(run_id: str, chart: Path | None) -> None:
    """Print the incident report (Markdown) of rollback RUN_ID and its retries and escalations."""
    from jobs.report import build_chart, build_report  # noqa: PLC0415 - only this command makes a report

    _start("cli", log_level="WARNING")
    ctx = get_context()
    try:
        loaded: Runbook | None = runbook_for(ctx, ctx.runs.get(run_id).service)
    except (RunbookError, UnknownTargetError) as error:
        click.echo(
            f"rollbot: runbook unreadable, the report uses the manual's defaults: {error.user_message}", err=True
        )
        loaded = None
    click.echo(build_report(ctx, run_id, loaded), nl=False)
    if chart is not None:
        png = build_chart(ctx, run_id, loaded)
        if png is None:
            click.echo("rollbot: no golden-path measurements in this incident's window: no chart written", err=True)
        else:
            chart.write_bytes(png)
            click.echo(f"rollbot: chart written to {chart}", err=True)


def _point_in_time(value: str | None, param: str) -> datetime | None:
    """`24h` (that long ago) or an ISO 8601 time (UTC unless it says otherwise)."""
    if value is None:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(value))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a duration (30m, 24h, 7d) nor an ISO 8601 time", param_hint=param
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@cli.group("audit")
def audit_group() -> None:
    """The audit trail (a Redis stream; entries older than ROLLBOT_AUDIT_RETENTION are trimmed)."""


@audit_group.command("export")
@click.option("--since", help="From this long ago (24h, 7d) or this ISO 8601 time (default: the oldest entry).")
@click.option("--until", help="Up to this long ago or this ISO 8601 time (default: now).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
def audit_export(since: str | None, until: str | None, output: Path | None) -> None:
    """Write audit entries as JSON lines: id, time, actor, action, result, run_id, args."""

    start, end = _point_in_time(since, "--since"), _point_in_time(until, "--until")
    _start("cli", log_level="WARNING")
    ctx = get_context()
    if output is None:
        audit.export(ctx.redis, ctx.keys, sys.stdout, start, end)
        return
    with output.open("w", encoding="utf-8") as out:
        count = audit.export(ctx.redis, ctx.keys, out, start, end)
    click.echo(f"{count} audit entries written to {output}.", err=True)


@audit_group.command("show")
@click.option("--run", "run_id", help="Only entries of this run.")
@click.option("--since", help="From this long ago (24h, 7d) or this ISO 8601 time (default: the oldest entry).")
def audit_show(run_id: str | None, since: str | None) -> None:
    """Audit entries as lines for people, oldest first."""

    start = _point_in_time(since, "--since")
    _start("cli", log_level="WARNING")
    ctx = get_context()
    shown = 0
    for entry in audit.read(ctx.redis, ctx.keys, since=start):
        if run_id and entry.run_id != run_id:
            continue
        args = " ".join(f"{k}={v}" for k, v in sorted(entry.args.items()) if v not in (None, ""))
        run = f" {entry.run_id}" if entry.run_id else ""
        click.echo(f"{entry.time:%Y-%m-%d %H:%M:%S}Z  {entry.actor:<16} {entry.action} → {entry.result}{run}  {args}")
        shown += 1
    if not shown:
        click.echo("No audit entries.")


@cli.command()
def sync() -> None:
    """Write back runs this host made while Redis did not answer, and checkpoints Redis lost (from git)."""
    _start("cli", log_level="WARNING")
    ctx = get_context()
    done = write_back_journal("rollbot sync")
    click.echo(f"{len(done)} run(s) written back from the journal" + (f": {', '.join(done)}." if done else "."))
    restored = 0
    for book in catalog(ctx):
        for phase in book.phases:
            if ctx.checkpoints.get(book.service, phase) is None and ctx.checkpoints.restore(
                book.repo, book.service, phase
            ):
                restored += 1
                click.echo(f"Checkpoint of {book.service} {phase} restored from git.")
    left = journal.pending(ctx.settings.rollbot_state_dir, ctx.keys.namespace)
    if left:
        click.echo(f"{len(left)} journal(s) still in use by runs going on: {', '.join(p.stem for p in left)}.")
    if not done and not restored and not left:
        click.echo("Nothing to write back.")


@cli.command()
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then exit.")
@click.option("--queues", default=",".join(QUEUE_NAMES), show_default=True,
              help="Comma-separated queues, in the order they are taken.")  # fmt: skip
def worker(burst: bool, queues: str) -> None:
    """Run an RQ worker (scheduler on). Give Slack and PagerDuty deliveries their own worker with
    `--queues notify` so an outage of theirs never keeps a rollback waiting.
    """
    names = [name.strip() for name in queues.split(",") if name.strip()]
    if not names or any(name not in QUEUE_NAMES for name in names):
        raise click.BadParameter(f"queues are {', '.join(QUEUE_NAMES)}", param_hint="--queues")
    from jobs.worker import run_worker  # noqa: PLC0415 - RQ's worker and what its jobs need

    _start("worker")
    run_worker(burst=burst, queue_names=names)


@cli.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")  # noqa: S104
@click.option("--port", type=int, default=None, help="Port (default: $PORT or 3000).")
@click.option("--workers", type=int, default=None, help="Server processes (default: $WEB_CONCURRENCY or 2).")
def web(host: str, port: int | None, workers: int | None) -> None:
    """Serve Slack (/slack/events), /healthz, /metrics and /pagerduty/webhook."""
    from bot.server import serve  # noqa: PLC0415 - gunicorn is only needed by this command

    settings = _settings("web")
    configure_logging(settings.log_level, Redactor(settings.secret_values()))
    if redis_answers():
        write_back_journal("rollbot web")
    serve(host, port or int(os.environ.get("PORT", "3000")), workers, settings.log_level)


@cli.command()
def socket() -> None:
    """Run the same Slack listeners over Socket Mode (needs SLACK_APP_TOKEN)."""
    from bot.socket_mode import serve  # noqa: PLC0415 - slack_bolt's Socket Mode adapter only here

    serve(_start("socket"))


@cli.command()
@click.option("--url", help="Public https base URL of `rollbot web` (not needed with --socket-mode).")
@click.option("--socket-mode", is_flag=True, help="Manifest for Socket Mode instead of request URLs.")
def manifest(url: str | None, socket_mode: bool) -> None:
    """Print the Slack app manifest for URL, or for Socket Mode (paste it at api.slack.com/apps)."""
    from bot.manifest import manifest_yaml  # noqa: PLC0415

    click.echo(manifest_yaml(url, socket_mode), nl=False)


def main() -> None:
    """Console entry point: every deliberate error is one clear line, exit code 2 (1 for a failed run)."""
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted: nothing was changed.", err=True)
        sys.exit(1)
    except click.exceptions.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except RollbotError as error:
        click.echo(f"rollbot: {error.user_message}", err=True)
        sys.exit(2 if isinstance(error, SettingsError) else 1)
    except RedisError as error:
        click.echo(f"rollbot: Redis error: {error}", err=True)
        sys.exit(2)
