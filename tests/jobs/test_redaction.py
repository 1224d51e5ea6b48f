"""Secrets never reach run records, the run log or the worker's logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from jobs.context import Context
from jobs.enqueue import enqueue_run
from jobs.redaction import RedactingFilter, Redactor
from tests.conftest import TEST_BOT_TOKEN, run_worker
from tests.jobs.test_locking_and_cancel import rollback_plan

ROUTING_KEY = "R0UT1NGKEY5ECRETVALUE"
STRAY_APP_TOKEN = "xapp-1-A0123-4567-abcdef"


def test_redactor_masks_configured_values_and_slack_token_patterns() -> None:
    redact = Redactor([ROUTING_KEY, "abc"])  # too short to mask safely
    text = f"key={ROUTING_KEY} token=xoxb-9-9-zz app={STRAY_APP_TOKEN} abc"
    assert redact(text) == "key=*** token=*** app=*** abc"


def test_logging_filter_masks_formatted_messages(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter(Redactor([ROUTING_KEY])))
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("sent %s to %s", ROUTING_KEY, "pagerduty")
    assert caplog.messages == ["sent *** to pagerduty"]


def test_step_output_with_secrets_is_masked_in_record_log_and_worker_logs(
    ctx: Context, env: dict[str, str], repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    steps = f"""\
- name: leaky deploy
  run: [sh, -c, 'echo "bot={TEST_BOT_TOKEN} key={ROUTING_KEY} app={STRAY_APP_TOKEN}"; echo "env=${{{{SLACK_BOT_TOKEN:-unset}}}}"; exit 1']
"""
    record = enqueue_run(ctx, rollback_plan(ctx, env, repo, steps), "U1")
    worker = run_worker(env, PAGERDUTY_ROUTING_KEY=ROUTING_KEY)

    final = ctx.runs.get(record.run_id)
    step = final.steps[1]
    assert final.status == "failed"
    assert "bot=*** key=*** app=***" in step.output_tail
    assert "env=unset" in step.output_tail  # rollbot's own settings are not passed to steps
    stored = repr(ctx.redis.hgetall(ctx.keys.run(record.run_id))).encode()
    log = repr(ctx.redis.lrange(ctx.keys.run_log(record.run_id), 0, -1)).encode()
    logs = worker.stdout + worker.stderr
    assert "bot=*** key=***" in logs  # the worker logged the failing step's output…
    for secret in (TEST_BOT_TOKEN, ROUTING_KEY, STRAY_APP_TOKEN):
        assert secret.encode() not in stored
        assert secret.encode() not in log
        assert secret not in logs  # …masked
    assert b"bot=*** key=*** app=***" in log and b"bot=*** key=*** app=***" in stored
