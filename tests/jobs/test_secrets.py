"""Secrets never leak: credential URLs in logs and messages, audit entries, step environments."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from jobs.context import Context
from jobs.core.redaction import LOG_FORMAT, RedactingFormatter, Redactor
from jobs.core.settings import Settings
from jobs.records import audit
from jobs.runs.enqueue import enqueue_run
from tests.conftest import PD_ROUTING_KEY, TEST_BOT_TOKEN, free_port, run_worker, write_runbook
from tests.standins.slack import SlackStandIn
from tests.support.cli import rollbot
from tests.support.runs import rollback_plan
from tests.support.slack import slash

# (URL as written, its secret part, how it reads masked)
CREDENTIAL_URLS = [
    ("redis://:n0-user-pw@cache.internal:6379/0", "n0-user-pw", "redis://***@cache.internal:6379/0"),
    ("rediss://app:p@ss-w0rd@cache.internal:6380/1", "ss-w0rd", "rediss://***@cache.internal:6380/1"),
    ("https://deploy:ghp-t0ken-value@git.example.com/org/repo.git", "ghp-t0ken-value",
     "https://***@git.example.com/org/repo.git"),
    ("redis://cache.internal:6379/0?password=qu3ry-pw&db=2", "qu3ry-pw",
     "redis://cache.internal:6379/0?password=***&db=2"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "secret", "masked"), CREDENTIAL_URLS)
def test_credential_urls_are_masked_whoever_wrote_them(url: str, secret: str, masked: str) -> None:
    assert Redactor()(f"connecting to {url} now") == f"connecting to {masked} now"
    formatter = RedactingFormatter(Redactor(), LOG_FORMAT)
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "lost %s", (url,), None)
    line = formatter.format(record)
    assert secret not in line and masked in line


def test_masked_redis_url_hides_every_credential_shape() -> None:
    for url, secret, masked in CREDENTIAL_URLS:
        if url.startswith("redis"):
            settings = Settings(redis_url=url)
            assert settings.masked_redis_url() == masked
            assert secret in " ".join(settings.secret_values())
    assert Settings(redis_url="redis://:a%40b@h:6379").secret_values() == ["a%40b", "a@b"]  # as written, as used
    assert Settings(redis_url="redis://localhost:6379/0").masked_redis_url() == "redis://localhost:6379/0"


def test_an_unreachable_redis_is_named_without_its_password(env: dict[str, str]) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0?password=qu3ry-pw"  # redis-py takes a password from the query too
    done = rollbot(env, "status", REDIS_URL=url)
    assert done.returncode != 0
    assert "REDIS_URL=redis://127.0.0.1:" in done.stderr and "/0?password=*** does not answer" in done.stderr
    assert "qu3ry-pw" not in done.stderr + done.stdout


def test_credential_urls_in_step_output_are_masked_in_records_and_worker_logs(
    ctx: Context, env: dict[str, str], repo: Path
) -> None:
    urls = " ".join(url for url, _secret, _masked in CREDENTIAL_URLS)
    steps = f"- name: leaky deploy\n  run: [sh, -c, 'echo \"using {urls}\"; exit 1']\n"
    record = enqueue_run(ctx, rollback_plan(ctx, env, repo, steps), "U1")
    worker = run_worker(env)

    final = ctx.runs.get(record.run_id)
    assert final.status == "failed"
    stored = repr(ctx.redis.hgetall(ctx.keys.run(record.run_id)))
    logs = worker.stdout + worker.stderr
    assert "using redis://***@cache.internal" in logs  # the worker logged the step's output…
    for _url, secret, masked in CREDENTIAL_URLS:
        assert masked in final.steps[1].output_tail
        assert secret not in stored and secret not in logs  # …masked


def test_a_token_typed_into_a_command_is_masked_in_the_audit_export(
    ctx: Context, env: dict[str, str], repo: Path, web: str, slack: SlackStandIn
) -> None:
    write_runbook(Path(env["RUNBOOK"]), repo)
    typed = f"phase2 xoxb-1234-secret {PD_ROUTING_KEY} redis://:typed-pw@cache:6379"
    slash(web, slack, "/rollback", typed)

    exported = rollbot(env, "audit", "export")
    assert exported.returncode == 0, exported.stderr
    entries = [json.loads(line) for line in exported.stdout.splitlines()]
    command = next(e for e in entries if e["action"] == "command")
    assert command["args"]["text"] == "phase2 *** *** redis://***@cache:6379"
    for secret in ("xoxb-1234-secret", PD_ROUTING_KEY, "typed-pw"):
        assert secret not in exported.stdout
        assert secret not in repr(ctx.redis.xrange(ctx.keys.audit))  # masked when written, not when read


def test_audit_entries_are_masked_when_written_whoever_writes_them(ctx: Context) -> None:
    ctx.audit(actor="U1", action="command", result=f"refused: {TEST_BOT_TOKEN}", text=f"key {PD_ROUTING_KEY}",
              nested={"urls": ["https://u:tok3n-here@h/x"], "n": 1}, obj=Path("/tmp/xoxb-9-path"))  # fmt: skip
    # A caller without the process's redactor (a pipeline in the runner) still masks secret shapes.
    audit.record(ctx.redis, ctx.keys, actor="U2", action="step.end", result="failed", args={"title": "xapp-1-A-b"})
    first, second = audit.read(ctx.redis, ctx.keys)
    assert first.result == "refused: ***"
    assert first.args == {"text": "key ***", "nested": {"urls": ["https://***@h/x"], "n": 1}, "obj": "/tmp/***"}
    assert second.args == {"title": "***"}


def test_settings_in_any_letter_case_never_reach_step_processes(ctx: Context, env: dict[str, str], repo: Path) -> None:
    names = ["Redis_Url", "slack_bot_token", "Log_Level", "Rollbot_Namespace", "Slack_Extra", "pagerduty_x",
             "rq_whatever", "Ca_Bundle"]  # fmt: skip
    printer = "import os; print('seen:', sorted(k for k in os.environ if k.upper().startswith(('REDIS_URL', "
    printer += "'SLACK', 'LOG_LEVEL', 'ROLLBOT_NAMESPACE', 'PAGERDUTY', 'RQ_', 'CA_BUNDLE', 'KEEP_'))))"
    steps = f'- name: print env\n  run: [{sys.executable}, -c, "{printer}"]\n'
    record = enqueue_run(ctx, rollback_plan(ctx, env, repo, steps), "U1")
    extra = {
        "Redis_Url": env["REDIS_URL"], "slack_bot_token": TEST_BOT_TOKEN, "Log_Level": "INFO",
        "Rollbot_Namespace": env["ROLLBOT_NAMESPACE"], "Slack_Extra": "x", "pagerduty_x": "x", "rq_whatever": "x",
        "Ca_Bundle": env["CA_BUNDLE"], "KEEP_ME": "step needs this",
    }  # fmt: skip
    run_worker({**env, **extra})
    final = ctx.runs.get(record.run_id)
    assert final.status == "succeeded", final
    assert "seen: ['KEEP_ME']" in final.steps[1].output_tail
    for name in names:
        assert name not in final.steps[1].output_tail
