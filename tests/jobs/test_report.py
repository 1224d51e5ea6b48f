"""Incident reports of real rollbacks on real workers: a failure and its successful retry in one
timeline, posted as a Markdown file in each run's thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq.registry import ScheduledJobRegistry

from jobs import report
from jobs.context import Context
from jobs.core.exceptions import DeliveryFailed, RollbotError, RunNotFoundError
from jobs.core.redis_values import text
from jobs.factory import get_queue, get_slack_client
from jobs.records.alerts import Alert
from jobs.records.audit import AuditEntry
from jobs.records.incidents import Incident
from jobs.records.runs import RunRecord, StepRecord
from jobs.runbook.loader import load_runbook
from jobs.runs import notify_queue
from jobs.runs.enqueue import Origin, create_run, enqueue_run
from jobs.runs.plan import select, with_checkpoint
from jobs.runs.runner import execute_run
from tests.conftest import LEAD, ONCALL, STRANGER, run_worker
from tests.standins.pagerduty import PagerDutyStandIn
from tests.standins.slack import SlackStandIn
from tests.support.runs import FAILING_DEPLOY, phase3
from tests.support.scheduled import make_due, scheduled_ids


def rollback(ctx: Context, path: Path, parent: RunRecord | None = None, actor: str = ONCALL) -> RunRecord:
    runbook = load_runbook(path)
    plan = with_checkpoint(select(runbook, "rollback", "phase3", "level1"), ctx.checkpoints.get("sandbox", "phase3"))
    return enqueue_run(ctx, plan, actor, Origin(parent=parent))


def failure_then_retry(ctx: Context, env: dict[str, str], repo: Path) -> tuple[Path, RunRecord, RunRecord]:
    """A phase3 level1 rollback that fails, then its retry (deploy fixed) that succeeds."""
    path = phase3(ctx, env, repo)
    failed = rollback(ctx, path)
    run_worker(env)
    path.write_text(path.read_text().replace(FAILING_DEPLOY, "echo deployed"))
    retried = rollback(ctx, path, parent=ctx.runs.get(failed.run_id))
    run_worker(env)
    return path, ctx.runs.get(failed.run_id), ctx.runs.get(retried.run_id)


def section(markdown: str, title: str) -> str:
    """The text of the `## title` section."""
    start = markdown.index(f"## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else len(markdown)]


def timeline_rows(markdown: str) -> list[list[str]]:
    """The timeline's rows as [time, elapsed, event, who]."""
    lines = section(markdown, "Timeline").splitlines()[4:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines if line.startswith("|")]


def stamp(when: datetime | None) -> str:
    assert when is not None
    return f"{when:%Y-%m-%d %H:%M:%S}"


def test_failure_then_successful_retry_is_one_timeline_with_correct_durations(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    path, failed, retried = failure_then_retry(ctx, env, repo)
    assert failed.status == "failed" and retried.status == "succeeded"
    assert retried.parent_run_id == failed.run_id

    markdown = report.build_report(ctx, retried.run_id, load_runbook(path))

    assert markdown.startswith("# Incident report: sandbox rollback phase3 — Implementation Consolidation\n")
    assert f"Runs `{failed.run_id}` → `{retried.run_id}` · report for `{retried.run_id}`" in markdown
    # Asked for the failed run, the report covers the same family: the same document but for its subject.
    assert report.build_report(ctx, failed.run_id, load_runbook(path)) == markdown.replace(
        f"report for `{retried.run_id}`", f"report for `{failed.run_id}`"
    )

    rows = timeline_rows(markdown)
    events = [row[2] for row in rows]
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)  # in time order

    def at(fragment: str) -> int:
        matches = [i for i, event in enumerate(events) if fragment in event]
        assert len(matches) == 1, (fragment, events)
        return matches[0]

    def words(run: RunRecord) -> str:
        return "FAILED" if run.status == "failed" else "succeeded"

    expected = []
    for run in (failed, retried):
        expected += [
            f"Rollback phase3 level1 requested (`{run.run_id}`",
            f"Rollback `{run.run_id}` started (budget 15m, to checkpoint {run.checkpoint_tag})",
            *(f"`{run.run_id}` step {s.index + 1}/2 {s.title}: {s.status}" for s in run.steps),
            f"Rollback `{run.run_id}` {words(run)} after",
        ]
    positions = [at(fragment) for fragment in expected]
    assert positions == sorted(positions)  # both runs, one after the other, each step in its place
    assert f"retry of `{failed.run_id}`" in events[positions[5]]

    # Times and durations are the records' own.
    for run in (failed, retried):
        assert run.elapsed is not None and run.started_at is not None and run.ended_at is not None
        end_row = rows[at(f"Rollback `{run.run_id}` {words(run)} after")]
        assert end_row[0] == stamp(run.ended_at)
        assert f"after {report.duration_text(run.elapsed)} of 15m" in end_row[2]
        assert rows[at(f"Rollback `{run.run_id}` started")][0] == stamp(run.started_at)
        for step in run.steps:
            assert step.duration is not None
            row = rows[at(f"`{run.run_id}` step {step.index + 1}/2 {step.title}: {step.status}")]
            assert row[0] == stamp(step.started_at) and f"in {report.duration_text(step.duration)}" in row[2]
    deploy = rows[at("Emergency staging deployment: failed")]
    assert deploy[2].endswith(f"failed in {report.duration_text(failed.steps[1].duration or 0)} — exit code 1")
    assert rows[0][1] == "+0.0s"  # offsets from the first event

    # PagerDuty: paged once for the failure, resolved by the retry.
    assert any("PagerDuty took the page" in e for e in events)
    assert any(f"Incident `{failed.incident_key}` resolved" in e for e in events)

    # Recovery: the failed run's request → the retry's end, against the manual's 60 minutes.
    assert retried.ended_at is not None
    recovery = (retried.ended_at - failed.created_at).total_seconds()
    recovery_text = section(markdown, "Recovery time")
    assert f"| {stamp(failed.created_at)} (request of `{failed.run_id}`)" in recovery_text
    assert f"| {stamp(retried.ended_at)} (end of the successful rollback `{retried.run_id}`)" in recovery_text
    assert f"| {report.duration_text(recovery)} | 1h | within the 1h target" in recovery_text
    assert f"**Recovery time:** {report.duration_text(recovery)} (within the 1h target)" in markdown
    assert f"**Outcome:** recovered: rollback `{retried.run_id}` succeeded" in markdown

    budgets = section(markdown, "Budget compliance")
    assert failed.elapsed is not None and retried.elapsed is not None
    assert f"| `{failed.run_id}` | phase3 level1 | FAILED | {report.duration_text(failed.elapsed)} | 15m |" in budgets
    assert (
        f"| `{retried.run_id}` | phase3 level1 | succeeded | {report.duration_text(retried.elapsed)} | 15m |" in budgets
    )
    assert budgets.count("| yes |") == 2

    who = section(markdown, "Who did what")
    assert f"- `{ONCALL}`" in who
    assert f"requested rollback phase3 level1 (`{failed.run_id}`)" in who
    assert f"requested rollback phase3 level1 (`{retried.run_id}`)" in who
    assert "`rollbot`" not in who

    actions = section(markdown, "Post-rollback actions")
    for item in report.MANUAL_POST_ROLLBACK_ACTIONS:  # the test runbook has none: the manual's
        assert f"- [ ] {item}" in actions
    five_whys = section(markdown, "Root cause analysis: five whys")
    assert five_whys.count("Why did") == 5 and "**Root cause:**" in five_whys


def test_the_runbook_decides_the_target_and_the_checklist(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    path = phase3(ctx, env, repo)
    run = rollback(ctx, path)
    run_worker(env)
    path.write_text(
        path.read_text() + 'recovery_target: 1s\npost_rollback_actions: ["Write it up", "Fix | the test"]\n'
    )
    markdown = report.build_report(ctx, run.run_id, load_runbook(path))
    assert "- [ ] Write it up\n- [ ] Fix | the test\n" in markdown
    assert "the runbook's `post_rollback_actions`" in markdown
    assert "**Outcome:** **not recovered**" in markdown
    assert "Not recovered yet. Target: 1s" in section(markdown, "Recovery time")


def test_report_is_posted_as_a_file_in_each_runs_thread(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    _path, failed, retried = failure_then_retry(ctx, env, repo)
    for run in (failed, retried):  # each report is due 3 s after its run ended (made due now, not waited for)
        job_id = ctx.keys.job("report", run.run_id)
        if run is retried or job_id in scheduled_ids(ctx, "notify"):  # the failed run's may be posted already
            assert run.ended_at is not None
            make_due(ctx, "notify", job_id, after=run.ended_at, delay=notify_queue.REPORT_DELAY)
    run_worker(env, "--queues", "notify")  # the scheduler queues the due report jobs

    names = {c.params["filename"]: c for c in slack.calls_to("files.getUploadURLExternal")}
    completed = {f["id"]: c.params for c in slack.calls_to("files.completeUploadExternal") for f in c.params["files"]}
    uploads = {c.params["file"]: c.params["content"] for c in slack.calls_to("upload")}
    for run in (failed, retried):
        message = {text(k): text(v) for k, v in ctx.redis.hgetall(ctx.keys.run_slack(run.run_id)).items()}
        assert message["report_uploaded"] == "1"
        file_ids = [fid for fid, params in completed.items()
                    if params["files"][0]["title"] == f"Incident report: sandbox phase3 level1 ({run.run_id})"]  # fmt: skip
        assert len(file_ids) == 1  # once per run
        params = completed[file_ids[0]]
        assert params["channel_id"] == message["channel"] and params["thread_ts"] == message["ts"]
        content = uploads[file_ids[0]]
        assert content.startswith("# Incident report: sandbox rollback phase3")
        assert f"report for `{run.run_id}`" in content
        assert f"{run.run_id}-report.md" in names
    # The retry's report tells both runs; the failed run's report was made before the retry existed
    # or after — either way it names the failed run, and its post was not repeated.
    retried_report = next(uploads[fid] for fid, p in completed.items() if retried.run_id in p["files"][0]["title"])
    assert failed.run_id in retried_report and "retry of" in retried_report

    # Nothing more to post: a second worker uploads nothing.
    before = len(slack.calls_to("upload"))
    assert report.post(ctx, get_slack_client(), retried.run_id, None) == "already posted"
    run_worker(env, "--queues", "notify")
    assert len(slack.calls_to("upload")) == before


def test_report_waits_for_the_run_message_and_is_only_for_worker_rollbacks(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    path = phase3(ctx, env, repo)
    runbook = load_runbook(path)
    # A break-glass run (no Slack message, no RQ job): no report job; `rollbot report` prints it.
    plan = with_checkpoint(select(runbook, "rollback", "phase3", "level1"), ctx.checkpoints.get("sandbox", "phase3"))
    here = execute_run(ctx, create_run(ctx, plan, "cli:test").run_id, runbook)
    assert here.status == "failed"
    jobs = set(ScheduledJobRegistry(queue=get_queue("notify")).get_job_ids())
    assert ctx.keys.job("report", here.run_id) not in jobs
    with pytest.raises(DeliveryFailed):  # no message to thread it under (yet): RQ retries
        report.post(ctx, get_slack_client(), here.run_id, runbook)
    assert not slack.calls_to("files.getUploadURLExternal")

    # Preflights and validations have no incident report.
    preflight = ctx.runs.recent(10)[-1]
    assert preflight.kind == "preflight"
    with pytest.raises(RollbotError, match="incident reports are made for rollback runs"):
        report.build_report(ctx, preflight.run_id, runbook)
    with pytest.raises(RunNotFoundError):
        report.build_report(ctx, "rb-nope", runbook)


def test_approvals_acknowledgments_and_later_validations_join_the_timeline(
    ctx: Context, env: dict[str, str], repo: Path, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    path, failed, retried = failure_then_retry(ctx, env, repo)
    runbook = load_runbook(path)
    ctx.audit(actor=LEAD, action="approval.approve", result="approved", run_id=retried.run_id, level="level1")
    ctx.audit(actor="pagerduty:Jane Doe", action="webhook.incident.acknowledged", result="known",
              key=failed.incident_key)  # fmt: skip
    ctx.audit(actor=STRANGER, action="rollback.request", result="refused", run_id=None, phase="phase3")  # not theirs
    validation = execute_run(ctx, create_run(ctx, select(runbook, "validation", "phase2"), LEAD).run_id, runbook)
    assert validation.status == "succeeded"

    markdown = report.build_report(ctx, retried.run_id, runbook)

    events = [row[2] for row in timeline_rows(markdown)]
    approve = next(i for i, e in enumerate(events) if "`approval.approve` → approved" in e)
    ack = next(i for i, e in enumerate(events) if "`webhook.incident.acknowledged` → known" in e)
    checks = next(i for i, e in enumerate(events) if f"Validation `{validation.run_id}` succeeded after" in e)
    ended = next(i for i, e in enumerate(events) if f"Rollback `{retried.run_id}` succeeded" in e)
    assert ended < approve < ack < checks  # in the order they were recorded
    assert "1/1 checks passed" in events[checks]
    assert STRANGER not in markdown
    assert "Validation runs after the rollback:** 1 (1 succeeded)" in markdown
    who = section(markdown, "Who did what")
    assert f"- `{LEAD}`" in who and "`approval.approve` → approved" in who
    assert f"requested validation phase2 (`{validation.run_id}`)" in who
    assert "- `pagerduty:Jane Doe`" in who
    assert "step.start" not in markdown and "rollback.start" not in markdown  # the records tell those


def test_render_is_a_pure_function_of_its_data() -> None:
    t0 = datetime(2026, 11, 30, 21, 50, tzinfo=UTC)

    def at(minutes: float) -> datetime:
        return t0 + timedelta(minutes=minutes)

    def run(run_id: str, level: str, start: float, end: float, status: str, parent: str | None = None) -> RunRecord:
        step = StepRecord(index=0, title="Restart all services", command="restart", status=status,
                          started_at=at(start), duration=(end - start) * 60, exit_code=0 if status == "succeeded" else 3)  # fmt: skip
        return RunRecord(run_id=run_id, kind="rollback", service="netra-backend", phase="phase3", level=level,
                         actor="automation", status=status, created_at=at(start - 0.5), started_at=at(start),
                         ended_at=at(end), budget=900 if level == "level1" else 1800, elapsed=(end - start) * 60,
                         steps=[step], parent_run_id=parent, incident_key="rollbot-netra-backend-rb-1", alert_id="al-1")  # fmt: skip

    runs = [run("rb-1", "level1", 1, 20, "budget_exceeded"), run("rb-2", "level2", 25, 70, "succeeded", parent="rb-1")]
    alert = Alert(alert_id="al-1", origin="monitor", source="golden_path", service="netra-backend", fingerprint="f",
                  metric="golden_path.success_rate", value=0.87, threshold="< 0.9", first_seen=t0, last_seen=at(60))  # fmt: skip
    incident = Incident(key="rollbot-netra-backend-rb-1", service="netra-backend", title="rollback failed",
                        status="acknowledged", opened_at=at(20), paged_at=at(20.1), acknowledged_by="Jane Doe")  # fmt: skip
    entries = [
        AuditEntry(
            id="2-0",
            time=at(22),
            actor="U0LEAD",
            action="pagerduty.acknowledged",
            result="done",
            args={"key": incident.key},
        ),
        AuditEntry(id="3-0", time=at(24), actor="U0LEAD", action="approval.approve", result="approved", run_id="rb-2"),
    ]
    data = report.ReportData(runs=runs, subject="rb-2", incident=incident, alert=alert, audit=entries)

    markdown = report.render(data, None)

    assert markdown == report.render(data, None)  # no clock, no randomness
    rows = timeline_rows(markdown)
    assert rows[0][:3] == ["2026-11-30 21:50:00", "+0.0s",
                           "First alert `al-1`: golden_path.success_rate = 0.87 (< 0.9)"]  # fmt: skip
    assert rows[-1][1] == "+1:10:00"  # the successful run's end, 70 minutes after the first alert
    assert "escalation from `rb-1` (level1 → level2)" in markdown
    assert "**Recovery time:** 1h10m (**over** the 1h target)" in markdown
    assert "**over** the 1h target by 10m" in section(markdown, "Recovery time")
    assert "(first alert `al-1`)" in section(markdown, "Recovery time")
    assert "the alert is still firing: health has not confirmed it yet" in markdown
    budgets = section(markdown, "Budget compliance")
    assert "| `rb-1` | phase3 level1 | FAILED: budget exceeded | 19m | 15m | 127% | **no** |" in budgets
    assert "| `rb-2` | phase3 level2 | succeeded | 45m | 30m | 150% | **no** |" in budgets
    assert "acknowledged by Jane Doe" in markdown
    who = section(markdown, "Who did what")
    assert who.index("- `automation`") < who.index("- `U0LEAD`")
    assert "`pagerduty.acknowledged` → done" in who
    assert "exit code 3" in markdown and "From the manual's" in markdown
