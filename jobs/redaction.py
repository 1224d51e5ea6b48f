"""Secret redaction for step output, run records and log lines."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
# Slack tokens of any kind, whether or not they are configured here.
_TOKEN_PATTERNS = (r"xox[abposre]-[A-Za-z0-9-]+", r"xapp-[A-Za-z0-9-]+")
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words


class Redactor:
    """Replaces every configured secret value and every Slack token pattern with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        literal = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._pattern = re.compile("|".join([*map(re.escape, literal), *_TOKEN_PATTERNS]))

    def __call__(self, text: str) -> str:
        """`text` with secrets masked."""
        return self._pattern.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Logging filter that masks secrets in the formatted message of every record it passes."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with secrets masked; never drops a record."""
        message = record.getMessage()
        redacted = self._redactor(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(level: str, redactor: Redactor) -> None:
    """Log to stderr with secrets masked in every line, whoever logs it (rq and libraries too)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
