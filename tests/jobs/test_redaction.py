"""Secrets never reach run records, the run log or the worker's logs."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from jobs.context import Context
from jobs.core.redaction import LOG_FORMAT, RedactingFormatter, Redactor
from jobs.runs.enqueue import enqueue_run
from tests.conftest import TEST_BOT_TOKEN, run_worker
from tests.support.runs import rollback_plan

ROUTING_KEY = "R0UT1NGKEY5ECRETVALUE"
STRAY_APP_TOKEN = "xapp-1-A0123-4567-abcdef"


def test_redactor_masks_configured_values_and_slack_token_patterns() -> None:
    redact = Redactor([ROUTING_KEY, "abc"])  # too short to mask safely
    text = f"key={ROUTING_KEY} token=xoxb-9-9-zz app={STRAY_APP_TOKEN} abc"
    assert redact(text) == "key=*** token=*** app=*** abc"


def test_secret_shaped_text_is_masked_even_when_not_configured() -> None:
    text = (
        "postgres://app:s3cr3t@db/x Authorization: Bearer abcdefghijkl ya29.a0AfB_x AKIAABCDEFGHIJKLMNOP\n"
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nhttps://example.com/a:b"
    )
    assert Redactor()(text) == "postgres://***@db/x Authorization: Bearer *** *** ***\n***\nhttps://example.com/a:b"


def test_log_lines_are_masked_tracebacks_included() -> None:
    formatter = RedactingFormatter(Redactor([ROUTING_KEY]), LOG_FORMAT)
    try:
        raise RuntimeError(f"PagerDuty refused key {ROUTING_KEY}")
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "sent %s", (ROUTING_KEY,), sys.exc_info())
    line = formatter.format(record)
    assert ROUTING_KEY not in line
    assert "sent ***" in line and "PagerDuty refused key ***" in line


def test_step_output_with_secrets_is_masked_in_record_log_and_worker_logs(
    ctx: Context, env: dict[str, str], repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    steps = f"""\
- name: leaky deploy
  run: [sh, -c, 'echo "bot={TEST_BOT_TOKEN} key={ROUTING_KEY} app={STRAY_APP_TOKEN}"; echo "env=${{{{SLACK_BOT_TOKEN:-unset}}}} ${{{{REDIS_URL:-unset}}}}"; exit 1']
"""
    record = enqueue_run(ctx, rollback_plan(ctx, env, repo, steps), "U1")
    worker = run_worker(env, PAGERDUTY_ROUTING_KEY=ROUTING_KEY)

    final = ctx.runs.get(record.run_id)
    step = final.steps[1]
    assert final.status == "failed"
    assert "bot=*** key=*** app=***" in step.output_tail
    assert "env=unset unset" in step.output_tail  # rollbot's own settings are not passed to steps
    stored = repr(ctx.redis.hgetall(ctx.keys.run(record.run_id))).encode()
    log = repr(ctx.redis.lrange(ctx.keys.run_log(record.run_id), 0, -1)).encode()
    logs = worker.stdout + worker.stderr
    assert "bot=*** key=***" in logs  # the worker logged the failing step's output…
    for secret in (TEST_BOT_TOKEN, ROUTING_KEY, STRAY_APP_TOKEN):
        assert secret.encode() not in stored
        assert secret.encode() not in log
        assert secret not in logs  # …masked
    assert b"bot=*** key=*** app=***" in log and b"bot=*** key=*** app=***" in stored


def test_git_and_its_hooks_never_see_rollbot_secrets(
    ctx: Context, env: dict[str, str], repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text('#!/bin/sh\necho "hook sees ${SLACK_BOT_TOKEN:-no token}" >&2\n')
    hook.chmod(0o755)
    monkeypatch.setenv("SLACK_BOT_TOKEN", TEST_BOT_TOKEN)  # in the worker's own environment
    record = enqueue_run(ctx, rollback_plan(ctx, env, repo, ""), "U1")
    run_worker(env)
    final = ctx.runs.get(record.run_id)
    assert final.status == "succeeded"
    assert TEST_BOT_TOKEN.encode() not in repr(ctx.redis.hgetall(ctx.keys.run(record.run_id))).encode()
