"""E-mail over SMTP (stdlib `smtplib`): `smtp://` upgrades with STARTTLS when the server offers it,
`smtps://` is TLS from the first byte; `CA_BUNDLE` is trusted. One message to many recipients;
the recipients the server refuses are named, the others still get it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from jobs.core.exceptions import MailError
from jobs.core.settings import Settings

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Sent:
    """What the server took: the message id, who accepted, and who it refused (with its answer)."""

    message_id: str
    accepted: list[str]
    refused: dict[str, str]


def configured(settings: Settings) -> bool:
    """Whether e-mail can be sent at all (`SMTP_URL` is set)."""
    return settings.smtp_url is not None


def tls_context(settings: Settings) -> ssl.SSLContext:
    """TLS trust for outbound connections: `CA_BUNDLE` when set, else the system's."""
    return ssl.create_default_context(cafile=str(settings.ca_bundle) if settings.ca_bundle else None)


def _sender(settings: Settings) -> str:
    host = urlsplit(settings.smtp_url or "").hostname or "localhost"
    return settings.email_from or f"rollbot@{host}"


def _connect(settings: Settings) -> smtplib.SMTP:
    parts = urlsplit(settings.smtp_url or "")
    host = parts.hostname or "localhost"
    context = tls_context(settings)
    server: smtplib.SMTP
    if parts.scheme == "smtps":
        server = smtplib.SMTP_SSL(host, parts.port or 465, timeout=SMTP_TIMEOUT_SECONDS, context=context)
    else:
        server = smtplib.SMTP(host, parts.port or 25, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        server.ehlo()
        if parts.scheme == "smtp" and server.has_extn("starttls"):
            server.starttls(context=context)
            server.ehlo()
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            server.login(settings.smtp_username, password)
    except (smtplib.SMTPException, OSError):
        server.close()
        raise
    return server


def probe(settings: Settings) -> str | None:
    """Connect, greet and leave: None when the SMTP server answers, else why it does not."""
    try:
        server = _connect(settings)
    except (smtplib.SMTPException, OSError) as error:
        return f"{type(error).__name__}: {error}"
    try:
        server.quit()
    except (smtplib.SMTPException, OSError) as error:
        logger.debug("SMTP quit after probe: %s", error)
    return None


def send(settings: Settings, recipients: list[str], subject: str, body: str) -> Sent:
    """Send one plain-text message to `recipients`. `MailError` when the server cannot be reached or
    takes it for nobody (`retryable` then says whether trying again may help).
    """
    message = EmailMessage()
    message["From"] = _sender(settings)
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="rollbot")
    message.set_content(body)
    try:
        server = _connect(settings)
    except (smtplib.SMTPException, OSError) as error:
        raise MailError(f"the SMTP server did not answer ({type(error).__name__}: {error})", retryable=True) from error
    try:
        refused_raw = server.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        answers = {addr: _answer(code, text) for addr, (code, text) in error.recipients.items()}
        raise MailError(_refusal(answers), retryable=False, refused=answers) from error
    except (smtplib.SMTPException, OSError) as error:
        raise MailError(f"the SMTP server failed ({type(error).__name__}: {error})", retryable=True) from error
    finally:
        try:
            server.quit()
        except (smtplib.SMTPException, OSError) as error:
            logger.debug("SMTP quit: %s", error)
    refused = {addr: _answer(code, text) for addr, (code, text) in refused_raw.items()}
    accepted = [r for r in recipients if r not in refused]
    return Sent(message_id=str(message["Message-ID"]), accepted=accepted, refused=refused)


def _answer(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


def _refusal(answers: dict[str, str]) -> str:
    return "the SMTP server refused " + "; ".join(f"{addr} ({answer})" for addr, answer in answers.items())
