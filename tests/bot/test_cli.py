"""The `rollbot` command as people use it from a terminal (the break-glass path)."""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

from jobs.context import Context
from jobs.records import audit
from tests.conftest import ROLLBOT, commit, git, write_runbook
from tests.support.cli import rollbot
from tests.support.runbooks import folder_of

DEFAULT_RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "ssot-tool-dispatcher.yaml"


def test_runbook_check_accepts_the_default_runbook(env: dict[str, str]) -> None:
    done = rollbot(env, "runbook", "check", str(DEFAULT_RUNBOOK))
    assert done.returncode == 0, done.stderr
    assert "OK — service netra-backend" in done.stdout
    for line in ("immediate: budget 30m, 3 steps", "level1: budget 15m", "level2: budget 30m",
                 "level3: budget 1h, 4 steps, 2 approvals", "analysis only (4 stop criteria)"):  # fmt: skip
        assert line in done.stdout


def test_runbook_check_rejects_a_malformed_runbook_with_yaml_paths(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_RUNBOOK.read_text().replace("budget: 15m", "budget: soon").replace("{project}", "{prj}"))
    done = rollbot(env, "runbook", "check", str(bad))
    assert done.returncode == 1
    assert "phases.phase3.levels.level1.budget (line" in done.stderr
    assert done.stdout == ""
    # Placeholders are checked once the structure is valid.
    bad.write_text(DEFAULT_RUNBOOK.read_text().replace('"{project}", --quick-deploy', '"{prj}", --quick-deploy'))
    done = rollbot(env, "runbook", "check", str(bad))
    assert done.returncode == 1
    assert "phases.phase2.levels.immediate.steps[2] (line" in done.stderr
    assert "'Restart staging services': unknown placeholder {prj}" in done.stderr


def test_dry_run_prints_the_resolved_plan_and_changes_nothing(ctx: Context, env: dict[str, str], repo: Path) -> None:
    write_runbook(
        Path(env["RUNBOOK"]), repo, steps="- name: Restart staging\n  run: [deploy, --project, '{project}']\n"
    )
    assert rollbot(env, "preflight", "phase2", "--yes").returncode == 0
    git(repo, "checkout", "-q", "main")
    bad = commit(repo, "bad")
    runs_before = ctx.runs.recent(100)
    keys_before = sorted(ctx.redis.scan_iter(match=f"{ctx.keys.namespace}:*"))
    audit_before = audit.entries(ctx.redis, ctx.keys)

    done = rollbot(env, "rollback", "phase2", "--dry-run")

    assert done.returncode == 0, done.stderr
    checkpoint = ctx.checkpoints.get("sandbox", "phase2")
    assert checkpoint is not None
    assert f"git checkout main && git reset --hard {checkpoint.tag} ({checkpoint.commit[:12]})" in done.stdout
    assert "Restart staging: deploy --project sandbox" in done.stdout
    assert "Level: immediate · budget 30m" in done.stdout
    assert "Dry run: nothing was changed." in done.stdout
    assert git(repo, "rev-parse", "HEAD") == bad
    assert ctx.runs.recent(100) == runs_before
    assert sorted(ctx.redis.scan_iter(match=f"{ctx.keys.namespace}:*")) == keys_before
    assert audit.entries(ctx.redis, ctx.keys) == audit_before


def test_break_glass_rollback_runs_here_prints_steps_and_audits(ctx: Context, env: dict[str, str], repo: Path) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo, steps="- name: Restart staging\n  run: [echo, restarted]\n")
    good = git(repo, "rev-parse", "HEAD")
    preflight = rollbot(env, "preflight", "phase2")  # stdin is not a terminal: no question asked
    assert preflight.returncode == 0, preflight.stderr
    assert "✅ [1/2] git.checkpoint" in preflight.stdout and "recorded as the phase2 checkpoint" in preflight.stdout
    git(repo, "checkout", "-q", "main")
    commit(repo, "bad 1")
    commit(repo, "bad 2")

    done = rollbot(env, "rollback", "phase2")

    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "rev-parse", "HEAD") == good
    assert "✅ [1/2] git.reset_to_checkpoint" in done.stdout
    assert "✅ [2/2] Restart staging" in done.stdout
    assert "succeeded after" in done.stdout and f"HEAD is {good[:12]}" in done.stdout
    actor = f"cli:{getpass.getuser()}"
    record = ctx.runs.recent(1)[0]
    assert record.kind == "rollback" and record.actor == actor and record.status == "succeeded"
    actions = [(e["actor"], e["action"], e["result"]) for e in audit.entries(ctx.redis, ctx.keys)
               if e["run_id"] == record.run_id]  # fmt: skip
    assert actions == [
        (actor, "rollback.request", "queued"),
        (actor, "rollback.start", "running"),
        (actor, "step.end", "succeeded"),
        (actor, "step.end", "succeeded"),
        (actor, "rollback.end", "succeeded"),
    ]


def test_failed_rollback_exits_nonzero_with_the_failing_output(ctx: Context, env: dict[str, str], repo: Path) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo, steps="- name: deploy\n  run: [sh, -c, 'echo quota exceeded; exit 4']\n")
    assert rollbot(env, "preflight", "phase2").returncode == 0
    done = rollbot(env, "rollback", "phase2")
    assert done.returncode == 1
    assert "❌ [2/2] deploy" in done.stdout and "exit code 4" in done.stdout
    assert "    | quota exceeded" in done.stdout
    assert "FAILED after" in done.stdout


def test_bad_input_gets_a_clear_message_and_changes_nothing(ctx: Context, env: dict[str, str], repo: Path) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo)
    unknown = rollbot(env, "rollback", "phase9")
    assert unknown.returncode == 1
    assert (
        "Unknown phase `phase9`. Valid phases: `phase1` (Foundation Analysis, analysis only), `phase2` (Factory"
        in unknown.stderr
    )
    level = rollbot(env, "rollback", "phase2", "--level", "nuclear")
    assert "phase2 has no level `nuclear`. Valid levels: `immediate` (30m)" in level.stderr
    no_checkpoint = rollbot(env, "rollback", "phase2")
    assert no_checkpoint.returncode == 1 and "Run `/preflight phase2`" in no_checkpoint.stderr
    assert ctx.runs.recent(100) == []


def test_analysis_only_phase_says_so(env: dict[str, str]) -> None:
    done = rollbot(env, "rollback", "phase1", RUNBOOK=str(DEFAULT_RUNBOOK))
    assert done.returncode == 1
    assert "phase1 (Foundation Analysis) is analysis-only" in done.stderr
    assert "Major architectural incompatibility discovered" in done.stderr


def test_missing_or_malformed_setting_stops_with_one_line(env: dict[str, str]) -> None:
    malformed = rollbot(env, "worker", "--burst", SLACK_BOT_TOKEN="not-a-token")
    assert malformed.returncode == 2
    assert malformed.stderr.strip().splitlines() == [
        "rollbot: setting SLACK_BOT_TOKEN is malformed: must be a bot token starting with xoxb-"
    ]
    missing_env = {k: v for k, v in env.items() if k != "SLACK_BOT_TOKEN"}
    missing = subprocess.run(
        [ROLLBOT, "worker", "--burst"], env={k: v for k, v in {**os.environ, **missing_env}.items()
                                             if k != "SLACK_BOT_TOKEN"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr.strip() == "rollbot: setting SLACK_BOT_TOKEN is required for `rollbot worker`"
    no_redis = rollbot(env, "history", REDIS_URL="redis://127.0.0.1:1/0")
    assert no_redis.returncode == 2 and len(no_redis.stderr.strip().splitlines()) == 1
    assert "Redis at REDIS_URL=redis://127.0.0.1:1/0 does not answer" in no_redis.stderr


def test_a_folder_of_runbooks_needs_the_service_named(ctx: Context, env: dict[str, str], tmp_path: Path) -> None:
    folder = folder_of(tmp_path, "billing", "search")
    checked = rollbot(env, "runbook", "check", str(folder))
    assert checked.returncode == 0, checked.stderr
    assert "billing.yaml: OK — service billing" in checked.stdout
    assert "2 services (billing, search)" in checked.stdout
    second = folder / "search.yaml"
    second.write_text(second.read_text().replace("service: search", "service: billing"))
    conflict = rollbot(env, "runbook", "check", str(folder))
    assert conflict.returncode == 1
    assert "`billing` is already the service of" in conflict.stderr and "1 services (billing)" in conflict.stdout
    second.write_text(second.read_text().replace("service: billing", "service: search"))

    unnamed = rollbot(env, "preflight", "phase2", "--yes", RUNBOOK=str(folder))
    assert unnamed.returncode == 1
    assert "several services: `billing`, `search`. Name one: `--service NAME`" in unnamed.stderr
    assert ctx.runs.recent(10) == []

    named = rollbot(env, "preflight", "phase2", "--yes", "--service", "search", RUNBOOK=str(folder))
    assert named.returncode == 0, named.stderr
    assert ctx.checkpoints.get("search", "phase2") is not None
    assert ctx.checkpoints.get("billing", "phase2") is None
    assert [r.service for r in ctx.runs.recent(10)] == ["search"]
