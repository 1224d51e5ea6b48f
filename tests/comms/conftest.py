"""The communication clocks' stand-ins: SMTP (aiosmtpd, STARTTLS), Statuspage and GitHub (HTTPS),
all trusted through the test CA_BUNDLE.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.standins import github as github_standin
from tests.standins import smtp as smtp_standin
from tests.standins import statuspage as statuspage_standin
from tests.standins.github import GitHubStandIn
from tests.standins.smtp import SmtpStandIn
from tests.standins.statuspage import StatuspageStandIn

EXECUTIVE_KEY = "EXECUTIVEKEY00000000000000000000"


@pytest.fixture
def smtp(pagerduty_ca: tuple[trustme.CA, Path]) -> Iterator[SmtpStandIn]:
    server = SmtpStandIn(pagerduty_ca[0]).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def statuspage_server(pagerduty_ca: tuple[trustme.CA, Path]) -> Iterator[StatuspageStandIn]:
    server = StatuspageStandIn(pagerduty_ca[0]).start()
    yield server
    server.stop()


@pytest.fixture
def statuspage(statuspage_server: StatuspageStandIn) -> StatuspageStandIn:
    statuspage_server.reset()
    return statuspage_server


@pytest.fixture
def github(pagerduty_ca: tuple[trustme.CA, Path]) -> Iterator[GitHubStandIn]:
    server = GitHubStandIn(pagerduty_ca[0]).start()
    yield server
    server.stop()


@pytest.fixture
def comms_env(
    env: dict[str, str],
    smtp: SmtpStandIn,
    statuspage: StatuspageStandIn,
    github: GitHubStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """`env` with e-mail going to the SMTP stand-in, Statuspage and GitHub to theirs."""
    extra = {
        "SMTP_URL": smtp.url,
        "SMTP_USERNAME": smtp_standin.USERNAME,
        "SMTP_PASSWORD": smtp_standin.PASSWORD,
        "EMAIL_FROM": "rollbot@example.com",
        "STATUSPAGE_API_KEY": statuspage_standin.API_KEY,
        "STATUSPAGE_PAGE_ID": statuspage_standin.PAGE_ID,
        "STATUSPAGE_API_URL": statuspage.url,
        "GITHUB_TOKEN": github_standin.TOKEN,
        "GITHUB_API_URL": github.url,
        "PAGERDUTY_EXECUTIVE_ROUTING_KEY": EXECUTIVE_KEY,
    }
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
        env[name] = value
    from tests.conftest import _clear_caches

    _clear_caches()
    return env
