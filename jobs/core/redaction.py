"""Secret redaction for step output, run records and log lines."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import lru_cache

MASK = "***"
# Secrets that look like secrets, whether or not they are configured here: Slack tokens, passwords
# in URLs, bearer tokens, Google OAuth access tokens, AWS access key ids, PEM private keys.
_TOKEN_PATTERNS = (
    r"xox[abposre]-[A-Za-z0-9-]+",
    r"xapp-[A-Za-z0-9-]+",
    # A URL's `user:password` (either may be empty, the password may hold `@`): all of it up to
    # the last `@` before the host, as urllib and redis-py read it.
    r"(?<=://)[^/\s:]*:[^/\s]*(?=@)",
    # A password or token given as a URL query parameter (redis-py reads `?password=`).
    r"(?:(?<=[?&]password=)|(?<=[?&]token=)|(?<=[?&]access_token=))[^&#\s]+",
    r"(?<=[Bb]earer )[A-Za-z0-9._~+/=-]{8,}",
    r"ya29\.[A-Za-z0-9._-]+",
    r"AKIA[0-9A-Z]{16}",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
)
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
_SHORT_TEXT = 200  # characters: texts up to this long are remembered masked
_SHORT_TEXTS_KEPT = 2048


class Redactor:
    """Replaces every configured secret value and every Slack token pattern with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        literal = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._pattern = re.compile("|".join([*map(re.escape, literal), *_TOKEN_PATTERNS]), re.DOTALL)
        # Short texts come back again and again (an actor, an action, a step's title): masked once.
        self._short = lru_cache(maxsize=_SHORT_TEXTS_KEPT)(self._mask)

    def __call__(self, text: str) -> str:
        """`text` with secrets masked."""
        return self._short(text) if len(text) <= _SHORT_TEXT else self._mask(text)

    def _mask(self, text: str) -> str:
        return self._pattern.sub(MASK, text)


class RedactingFormatter(logging.Formatter):
    """Formats a record as usual, then masks secrets in the whole text, tracebacks included."""

    def __init__(self, redactor: Redactor, fmt: str) -> None:
        super().__init__(fmt)
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record with secrets masked."""
        return self._redactor(super().format(record))


class _RedactedFormatter(logging.Formatter):
    """Another formatter's lines, masked."""

    def __init__(self, inner: logging.Formatter, redactor: Redactor) -> None:
        super().__init__()
        self._inner = inner
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """The inner formatter's text with secrets masked."""
        return self._redactor(self._inner.format(record))


def redact_handlers(logger: logging.Logger, redactor: Redactor) -> None:
    """Mask secrets in everything `logger`'s own handlers write, keeping their formats (for
    loggers set up by others that do not propagate to the root, such as gunicorn's).
    """
    for handler in logger.handlers:
        inner = handler.formatter or logging.Formatter()
        if not isinstance(inner, RedactingFormatter | _RedactedFormatter):
            handler.setFormatter(_RedactedFormatter(inner, redactor))


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, redactor: Redactor) -> None:
    """Log to stderr with secrets masked in every line, whoever logs it (rq and libraries too)."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(redactor, LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
