"""`rollbot web`: the WSGI app behind gunicorn (gthread workers), built after fork in each worker.

The gunicorn master imports every listener and loads the runbooks before it forks, so its workers
share those pages instead of each holding a copy (docs/benchmarks.md, web memory).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from gunicorn.glogging import Logger

from bot import deps
from bot.app import create_app
from bot.web import WSGIApp, create_wsgi_app
from jobs.core.exceptions import RunbookError
from jobs.core.redaction import Redactor, redact_handlers
from jobs.core.settings import get_settings
from jobs.factory import ssl_context

logger = logging.getLogger(__name__)

THREADS_PER_WORKER = 16


def build_wsgi_app() -> WSGIApp:
    """Bolt app plus routes, for one server process."""
    return create_wsgi_app(create_app())


class _Server(BaseApplication):  # type: ignore[misc]
    """gunicorn configured in code (no config file, no command-line parsing of its own)."""

    def __init__(self, factory: Callable[[], WSGIApp], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> WSGIApp:
        return self._factory()


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's own logger (error log, access log) with every line masked like rollbot's own:
    a token in a request line or URI gunicorn reports is never written in clear.
    """

    redactor = Redactor()

    def setup(self, cfg: Config) -> None:
        """gunicorn's handlers, each formatter wrapped by the redactor."""
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            redact_handlers(log, self.redactor)


def redacting_logger_class(redactor: Redactor) -> type[RedactingLogger]:
    """A gunicorn `logger_class` masking with `redactor` (the process's configured secrets)."""
    return type("RollbotGunicornLogger", (RedactingLogger,), {"redactor": redactor})


def gunicorn_options(host: str, port: int, workers: int | None = None, log_level: str = "info") -> dict[str, Any]:
    """The gunicorn settings `rollbot web` runs with. `workers` defaults to `WEB_CONCURRENCY` or 2."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers or int(os.environ.get("WEB_CONCURRENCY", "2")),
        "worker_class": "gthread",
        "threads": THREADS_PER_WORKER,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "loglevel": log_level.lower(),
        "accesslog": None,
        "errorlog": "-",
        "proc_name": "rollbot-web",
    }


def serve(
    host: str,
    port: int,
    workers: int | None = None,
    log_level: str = "info",
    factory: Callable[[], WSGIApp] = build_wsgi_app,
    redactor: Redactor | None = None,
) -> None:
    """Serve `factory()`'s app until stopped, with `gunicorn_options` and gunicorn's own log lines
    masked by `redactor` (default: one for the configured secrets).
    """
    redactor = redactor or Redactor(get_settings().secret_values())
    options = {**gunicorn_options(host, port, workers, log_level), "logger_class": redacting_logger_class(redactor)}
    load_before_fork()
    share_with_forks()
    _Server(factory, options).run()


def load_before_fork() -> None:
    """Load what every worker would otherwise load for itself and keep: the runbooks (read and
    validated; each worker re-reads a file only when it changes) and the outbound clients' TLS
    trust. The Bolt app itself is still built after fork: it starts a thread (`bot.identity`).
    """
    ssl_context()
    try:
        deps.catalog()
    except RunbookError as error:  # the listeners answer with the problem; a fixed file is read then
        logger.error("runbook unreadable: %s", error.user_message)


def share_with_forks() -> None:
    """Keep what this process imported on pages its forks share: a collection now, then the
    collector stops touching (and so copying) every object that exists so far.
    """
    gc.collect()
    gc.freeze()
