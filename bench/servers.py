"""Servers the ack benchmark starts: `python -m bench.servers rollbot|bare|uvicorn PORT`.

- rollbot: `rollbot web` as shipped (gunicorn, gthread workers).
- bare: a Bolt app whose /rollback listener only calls ack(), on the same gunicorn settings.
- uvicorn: rollbot's WSGI app on uvicorn's WSGI interface (the alternative server).
"""

from __future__ import annotations

import os
import sys

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.server import build_wsgi_app, serve
from bot.web import WSGIApp
from jobs.core.settings import get_settings


def bare_bolt_app() -> WSGIApp:
    """The smallest Bolt app that answers /rollback: ack() and nothing else."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    settings = get_settings()
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    # Bolt's defaults, but for the API URL: the bench's Slack stand-in answers its auth.test.
    app = App(client=WebClient(token=token, base_url=settings.slack_api_url), signing_secret=secret)

    @app.command("/rollback")
    def ack_only(ack: Ack) -> None:
        ack()

    handler: WSGIApp = SlackRequestHandler(app)
    return handler


def main() -> None:
    """Start the named server on 127.0.0.1:PORT with 2 worker processes."""
    kind, port = sys.argv[1], int(sys.argv[2])
    workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
    if kind == "uvicorn":
        import uvicorn

        uvicorn.run("bench.servers:rollbot_app", host="127.0.0.1", port=port, workers=workers, interface="wsgi",
                    factory=True, log_level="warning")  # fmt: skip
    else:
        serve("127.0.0.1", port, workers, "warning", build_wsgi_app if kind == "rollbot" else bare_bolt_app)


def rollbot_app() -> WSGIApp:
    """Factory for uvicorn."""
    return build_wsgi_app()


if __name__ == "__main__":
    main()
