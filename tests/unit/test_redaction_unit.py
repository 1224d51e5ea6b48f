"""Secret masking (jobs.redaction.Redactor and its formatters) on plain strings and log records."""

from __future__ import annotations

import logging

import pytest

from jobs.core.redaction import MASK, RedactingFormatter, Redactor, redact_handlers


def test_configured_secrets_are_masked_longest_first_and_short_ones_ignored() -> None:
    redact = Redactor(["hunter2-long", "hunter2", "abc", ""])
    assert redact("pw=hunter2-long and hunter2, abc stays") == "pw=*** and ***, abc stays"


def test_configured_secrets_are_literal_not_regular_expressions() -> None:
    assert Redactor(["a.b*c"])("a.b*c axbbc") == "*** axbbc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token xoxb-123-456-abc", "token ***"),
        ("app xapp-1-A0-99", "app ***"),
        ("redis://:s3cret@host:6379/0", "redis://***@host:6379/0"),
        ("https://user:p@ss:w@host/x", "https://***@host/x"),
        ("redis://host/0?password=s3cret&db=1", "redis://host/0?password=***&db=1"),
        ("https://h/?access_token=abc#frag", "https://h/?access_token=***#frag"),
        ("Authorization: Bearer abcdefgh12345", "Authorization: Bearer ***"),
        ("bearer short", "bearer short"),
        ("gcloud ya29.a0AfH6SM-xyz", "gcloud ***"),
        ("key AKIAABCDEFGHIJKLMNOP!", "key ***!"),
        ("https://host/path@x", "https://host/path@x"),
    ],
)
def test_secret_shaped_text_is_masked_without_configuration(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


def test_a_pem_private_key_is_masked_across_lines() -> None:
    pem = "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\nabc\n-----END RSA PRIVATE KEY-----\nafter"
    assert Redactor()(pem) == f"before\n{MASK}\nafter"


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.WARNING, __file__, 1, message, args, None)


def test_the_formatter_masks_arguments_too() -> None:
    formatter = RedactingFormatter(Redactor(["s3cr3t-value"]), "%(levelname)s %(message)s")
    assert formatter.format(_record("login with %s", "s3cr3t-value")) == "WARNING login with ***"


def test_other_loggers_handlers_keep_their_format_masked_once() -> None:
    logger = logging.getLogger("tests.unit.redaction")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
    logger.addHandler(handler)
    try:
        redactor = Redactor(["s3cr3t-value"])
        redact_handlers(logger, redactor)
        wrapped = handler.formatter
        redact_handlers(logger, redactor)
        assert handler.formatter is wrapped
        assert wrapped is not None
        assert wrapped.format(_record("x s3cr3t-value")) == "[t] x ***"
    finally:
        logger.removeHandler(handler)
