"""The one settings class: every process reads its environment (and `.env`) through it.

The settings live in `jobs/` because workers need them and `jobs/` never imports `bot/`;
the web side imports them from here.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from jobs.core.durations import parse_duration
from jobs.core.exceptions import SettingsError
from jobs.core.redaction import Redactor

Process = Literal["web", "worker", "cli", "socket"]

_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# Which settings each process cannot start without (docs/settings.md).
REQUIRED: dict[str, tuple[str, ...]] = {
    "web": ("slack_bot_token", "slack_signing_secret"),
    "worker": ("slack_bot_token",),
    "socket": ("slack_bot_token", "slack_app_token"),
    "cli": (),
}


def default_state_dir() -> Path:
    """`$XDG_STATE_HOME/rollbot`, else `~/.local/state/rollbot`: where run journals are kept."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rollbot"


class Settings(BaseSettings):
    """Every setting in `.env.example` (docs/settings.md), read from the environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore")

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    alert_channel: str | None = None
    redis_url: str = "redis://localhost:6379/0"
    redis_sentinels: str | None = None
    redis_sentinel_master: str | None = Field(default=None, validate_default=True)
    rollbot_namespace: str = "rollbot"
    runbook: Path = Path("runbooks/ssot-tool-dispatcher.yaml")
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_api_token: SecretStr | None = None
    pagerduty_from_email: str | None = None
    pagerduty_webhook_secret: SecretStr | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com"
    pagerduty_api_url: str = "https://api.pagerduty.com"
    ca_bundle: Path | None = None
    # The communication clocks (docs/pagerduty.md#communication-clocks): e-mail, status page, GitHub.
    smtp_url: str | None = None  # smtp://host:port (STARTTLS when offered) or smtps://host:port
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str | None = None
    statuspage_api_key: SecretStr | None = None
    statuspage_page_id: str | None = None
    statuspage_api_url: str = "https://api.statuspage.io"
    pagerduty_executive_routing_key: SecretStr | None = None
    github_token: SecretStr | None = None
    github_api_url: str = "https://api.github.com"
    # Extensions of the contract (documented in README and .env.example).
    rollbot_lease_seconds: float = Field(default=60.0, gt=0)
    rollbot_retention: float = Field(default=90 * 86400.0, gt=0)  # runs, their logs and audit entries kept this long
    rollbot_audit_retention: float = 90 * 86400.0  # unset: ROLLBOT_RETENTION
    rollbot_slack_flush_seconds: float = Field(default=10.0, ge=0)
    rollbot_group_cache_seconds: float = Field(default=60.0, ge=0)
    rollbot_approval_expiry: float = 900.0
    rollbot_slack_retention: float = 7 * 86400.0  # undelivered Slack work is kept (and retried) this long
    rollbot_slack_redelivery_seconds: float = Field(default=60.0, gt=0)  # how often it is retried
    log_level: str = "INFO"
    rollbot_state_dir: Path = Field(default_factory=default_state_dir)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") + "/"

    @field_validator("pagerduty_events_url", "pagerduty_api_url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname or (port is None and ":" in parts.netloc):
            raise ValueError("must be smtp://host[:port] or smtps://host[:port]")
        return value

    @field_validator("statuspage_api_url", "github_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels(cls, value: str | None) -> str | None:
        if value is None:
            return None
        addresses = [_sentinel_address(item.strip()) for item in value.split(",") if item.strip()]
        if not addresses:
            raise ValueError("must be host:port[,host:port…]")
        return ",".join(f"{host}:{port}" for host, port in addresses)

    @field_validator("redis_sentinel_master")
    @classmethod
    def _sentinel_master(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("redis_sentinels"):
            raise PydanticCustomError("required_with", "is required when REDIS_SENTINELS is set")
        return value

    @field_validator("rollbot_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _NAMESPACE_RE.match(value):
            raise ValueError("must be 1-64 letters, digits, '-' or '_'")
        return value

    @field_validator("rollbot_retention", "rollbot_audit_retention", "rollbot_approval_expiry",
                     "rollbot_slack_retention", mode="before")  # fmt: skip
    @classmethod
    def _retention(cls, value: object) -> float:
        return parse_duration(value)

    @model_validator(mode="after")
    def _audit_retention_follows_retention(self) -> Settings:
        if "rollbot_audit_retention" not in self.model_fields_set:
            self.rollbot_audit_retention = self.rollbot_retention
        return self

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """`REDIS_SENTINELS` as (host, port) pairs; empty when rollbot talks to `REDIS_URL` directly."""
        if not self.redis_sentinels:
            return []
        return [_sentinel_address(item) for item in self.redis_sentinels.split(",")]

    def secret_values(self) -> list[str]:
        """Every configured token and secret, for redaction of step output and logs."""
        secrets = [
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.pagerduty_routing_key,
            self.pagerduty_api_token,
            self.smtp_password,
            self.statuspage_api_key,
            self.pagerduty_executive_routing_key,
            self.github_token,
        ]
        values = [s.get_secret_value() for s in secrets if s is not None]
        values += url_passwords(self.redis_url)
        if self.pagerduty_webhook_secret is not None:
            values += [v.strip() for v in self.pagerduty_webhook_secret.get_secret_value().split(",")]
        return [v for v in values if v]

    def redis_location(self) -> str:
        """Where Redis is looked for, for messages: the sentinels and master name, else `REDIS_URL` (masked)."""
        if self.redis_sentinels:
            return f"REDIS_SENTINELS={self.redis_sentinels} (master {self.redis_sentinel_master})"
        return f"REDIS_URL={self.masked_redis_url()}"

    def masked_redis_url(self) -> str:
        """`REDIS_URL` with its credentials (`user:password@`, `?password=`) shown as `***`."""
        return Redactor(url_passwords(self.redis_url))(self.redis_url)

    def require(self, process: Process) -> None:
        """Raise `SettingsError` naming the first setting `process` cannot start without."""
        for name in REQUIRED[process]:
            if getattr(self, name) is None:
                raise SettingsError(f"setting {name.upper()} is required for `rollbot {process}`")


def url_passwords(url: str) -> list[str]:
    """The passwords in `url` as written and as redis-py decodes them: the userinfo's (everything
    after the first `:` up to the last `@` of the host part) and any `password=` query parameter.
    """
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
    except ValueError:  # e.g. an unclosed `[` of an IPv6 host: the generic URL pattern still masks it
        return []
    pairs = (pair.partition("=") for pair in parts.query.split("&"))
    found += [value for name, _, value in pairs if name == "password"]
    raw = [p for p in found if p]
    return list(dict.fromkeys([*raw, *(unquote(p) for p in raw)]))


def _sentinel_address(item: str) -> tuple[str, int]:
    """`host:port` (IPv6 hosts in brackets) as a pair; ValueError when it is not one."""
    host, _, port = item.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{item!r} is not host:port")
    return host, int(port)


# Names of rollbot's own settings: they are not passed on to the programs steps run.
SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)
PRIVATE_ENV_PREFIXES = ("SLACK_", "PAGERDUTY_", "ROLLBOT_", "RQ_")


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "settings"
    if first["type"] == "required_with":
        return f"setting {name} {first['msg']}"
    return f"setting {name} is malformed: {first['msg'].removeprefix('Value error, ')}"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once. Malformed values raise `SettingsError` naming them."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(_describe(error)) from error
