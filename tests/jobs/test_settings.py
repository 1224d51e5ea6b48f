"""Settings: every name in .env.example, empty values mean unset, bad values name themselves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs.core.durations import format_duration, parse_duration
from jobs.core.exceptions import SettingsError
from jobs.core.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]
DESIGN_SETTINGS = {
    "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "ALERT_CHANNEL", "REDIS_URL",
    "ROLLBOT_NAMESPACE", "RUNBOOK", "PAGERDUTY_ROUTING_KEY", "PAGERDUTY_API_TOKEN", "PAGERDUTY_FROM_EMAIL",
    "PAGERDUTY_WEBHOOK_SECRET", "PAGERDUTY_EVENTS_URL", "PAGERDUTY_API_URL", "CA_BUNDLE",
}  # fmt: skip


def test_env_example_names_every_setting() -> None:
    names = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.M))
    fields = {name.upper() for name in Settings.model_fields}
    assert names >= DESIGN_SETTINGS
    assert names == fields


def test_env_example_as_dotenv_is_valid_with_empty_values_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    for name in DESIGN_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.slack_signing_secret is None and settings.pagerduty_routing_key is None
    assert settings.ca_bundle is None and settings.rollbot_audit_retention == 90 * 86400


def test_slack_api_url_with_or_without_trailing_slash() -> None:
    assert Settings(slack_api_url="http://127.0.0.1:9/api").slack_api_url == "http://127.0.0.1:9/api/"
    assert Settings(slack_api_url="http://127.0.0.1:9/api/").slack_api_url == "http://127.0.0.1:9/api/"


def test_required_settings_per_process() -> None:
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET is required for `rollbot web`"):
        Settings(slack_bot_token="xoxb-1").require("web")
    Settings().require("cli")


def test_malformed_setting_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_EVENTS_URL", "http://events.example.com")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match=r"setting PAGERDUTY_EVENTS_URL is malformed: must be an https:// URL"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_secret_values_include_every_webhook_secret_for_rotation() -> None:
    settings = Settings(slack_bot_token="xoxb-a", pagerduty_webhook_secret="old-secret, new-secret")
    assert settings.secret_values() == ["xoxb-a", "old-secret", "new-secret"]


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("15m", 900), ("1h", 3600), (42, 42), ("90d", 90 * 86400)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-5s", 0, True, "5 minutes"])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0.4, 3, 90, 1800, 3600, 5400)] == [
        "0.4s",
        "3s",
        "1m30s",
        "30m",
        "1h",
        "1h30m",
    ]
