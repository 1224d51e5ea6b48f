"""The runbook format (docs/runbook.md), validated with pydantic; unknown keys are errors."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    model_validator,
)

from jobs.core.durations import parse_duration
from jobs.runbook.people import Contacts as Contacts  # noqa: PLC0414 - re-exported: the model's parts
from jobs.runbook.people import Escalation as Escalation  # noqa: PLC0414
from jobs.runbook.people import StatusPage
from jobs.runbook.schedule import Readiness, RehearsalSchedule

Duration = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)]


class StrictModel(BaseModel):
    """Base of every runbook model: unknown keys are errors, values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- steps -------------------------------------------------------------------------------


class StepBase(StrictModel):
    """What every step has: a name for people, a timeout, and whether a failure stops the run."""

    name: str | None = None
    timeout: Duration | None = None
    continue_on_failure: bool = False

    @property
    def title(self) -> str:
        """The name people see: the step's `name`, else what kind of step it is (its `uses`)."""
        return self.name or str(getattr(self, "uses", "step"))

    def describe(self) -> str:
        """What the step does, in one line."""
        raise NotImplementedError


class CommandStep(StepBase):
    """Runs an argv list in the runbook's repo, never through a shell."""

    run: Annotated[list[str], Field(min_length=1)]
    env: dict[str, str] = {}
    rehearse: Literal["run"] | Annotated[list[str], Field(min_length=1)] | None = None  # else skipped there

    @property
    def title(self) -> str:
        """The step's `name`, else its program (and first two arguments)."""
        return self.name or (self.run[0] if len(self.run) == 1 else shlex.join(self.run[:3]))

    def describe(self) -> str:
        """The command line, quoted as a shell would need it."""
        return shlex.join(self.run)


class GitCheckpointStep(StepBase):
    """Tags HEAD as `<phase checkpoint>-YYYYMMDD[-N]` (UTC) and records it; optionally branches."""

    uses: Literal["git.checkpoint"]
    branch: str | None = None

    def describe(self) -> str:
        """Tag (and branch) to be created."""
        branch = f" and check out branch {self.branch}-YYYYMMDD" if self.branch else ""
        return f"git tag <checkpoint>-YYYYMMDD{branch}"


class GitResetStep(StepBase):
    """Checks out the main branch and hard-resets it to the phase's recorded checkpoint."""

    uses: Literal["git.reset_to_checkpoint"]

    def describe(self) -> str:
        """The reset."""
        return "git checkout <main> && git reset --hard <recorded checkpoint>"


class HttpCheckStep(StepBase):
    """One HTTP request; succeeds on the expected status (any 2xx when unset)."""

    uses: Literal["http.check"]
    url: str
    method: Literal["GET", "POST", "HEAD"] = "GET"
    expect_status: int | None = None

    def describe(self) -> str:
        """Method and URL."""
        return f"{self.method} {self.url}"


class WaitUntilHealthyStep(StepBase):
    """Polls a URL (or a runbook health source) until it is healthy, up to `timeout` (default 300 s)."""

    uses: Literal["http.wait_until_healthy"]
    url: str | None = None
    source: str | None = None
    interval: Duration = 10.0
    timeout: Duration | None = 300.0

    @model_validator(mode="after")
    def _one_target(self) -> WaitUntilHealthyStep:
        if (self.url is None) == (self.source is None):
            raise ValueError("give exactly one of url or source")
        return self

    def describe(self) -> str:
        """What is polled."""
        target = self.url or f"health source {self.source}"
        return f"wait until {target} is healthy"


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "run" in value:
            return "run"
        uses = value.get("uses")
        return uses if isinstance(uses, str) else None
    return getattr(value, "uses", "run" if hasattr(value, "run") else None)


Step = Annotated[
    Annotated[CommandStep, Tag("run")]
    | Annotated[GitCheckpointStep, Tag("git.checkpoint")]
    | Annotated[GitResetStep, Tag("git.reset_to_checkpoint")]
    | Annotated[HttpCheckStep, Tag("http.check")]
    | Annotated[WaitUntilHealthyStep, Tag("http.wait_until_healthy")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message=(
            "a step needs `run: [argv…]` or `uses:` one of git.checkpoint, git.reset_to_checkpoint, "
            "http.check, http.wait_until_healthy"
        ),
    ),
]

STEP_KINDS = ("run", "git.checkpoint", "git.reset_to_checkpoint", "http.check", "http.wait_until_healthy")


# --- thresholds and health -------------------------------------------------------------


def normalize(value: float) -> float:
    """A health value ≤ 1 is a fraction; > 1 is a percentage (docs/runbook.md)."""
    return value / 100 if value > 1 else value


class Threshold(StrictModel):
    """A metric's limits. Fractions ≤ 1; values > 1 are percentages (docs/runbook.md)."""

    label: str | None = None
    field: str | None = None
    alert_below: float | None = None
    rollback_below: float | None = None
    alert_above: float | None = None
    rollback_above: float | None = None
    alert_above_baseline: float | None = None
    rollback_above_baseline: float | None = None
    customer_facing: bool = False  # a breach of this metric makes its incident customer-facing


class Breach(StrictModel):
    """What a health breach does: roll back this phase/level automatically or suggest it."""

    phase: str
    level: str | None = None
    mode: Literal["auto", "suggest"] = "suggest"


class HealthSource(StrictModel):
    """An HTTP endpoint answering JSON with the metrics below, polled by the monitor every
    `interval`. Decisions follow Argo Rollouts' analysis: roll back when failed measurements among
    the last `window` are more than `failure_limit`; more than `consecutive_error_limit` errors in
    a row page ("monitor blind") and never roll back.
    """

    url: str
    interval: Annotated[float, BeforeValidator(parse_duration), Field(ge=1)] = 30.0  # RQ schedules in seconds
    timeout: Duration | None = None  # of one request; default min(interval, 10 s)
    metrics: Annotated[dict[str, Threshold], Field(min_length=1)]
    window: Annotated[int, Field(ge=1, le=100)] = 10
    failure_limit: Annotated[int, Field(ge=0)] = 0
    consecutive_error_limit: Annotated[int, Field(ge=0)] = 4
    cooldown: Duration = 900.0
    dry_run: bool = False  # post what would have been done; never roll back or page
    baseline: str | None = None  # JSON file (relative to repo) of metric values, for *_baseline limits
    on_breach: Breach | None = None

    @model_validator(mode="after")
    def _window_holds_the_limit(self) -> HealthSource:
        if self.failure_limit >= self.window:
            raise ValueError(f"failure_limit ({self.failure_limit}) must be below window ({self.window})")
        return self

    @property
    def request_timeout(self) -> float:
        """Seconds one measurement may take."""
        return self.timeout or min(self.interval, 10.0)


class AlertRule(StrictModel):
    """Matches messages posted in the alert channel (by people or integrations) to a metric.

    `pattern` is a regular expression searched in the message text (a named group `value`, if
    any, is the metric's value); `fields` maps dotted paths in the Slack event (`username`,
    `bot_profile.name`, `attachments.0.title`) to regular expressions that must all match.
    """

    name: Name
    pattern: str | None = None
    fields: dict[str, str] = {}
    metric: str
    severity: Literal["critical", "error", "warning", "info"] = "critical"
    phase: str | None = None
    level: str | None = None
    mode: Literal["auto", "suggest"] = "suggest"
    cooldown: Duration = 900.0  # the same alert again within this bumps the card's counter

    @model_validator(mode="after")
    def _matches_something(self) -> AlertRule:
        if self.pattern is None and not self.fields:
            raise ValueError("an alert rule needs `pattern` or `fields`")
        for expression in [self.pattern or "", *self.fields.values()]:
            try:
                re.compile(expression)
            except re.error as error:
                raise ValueError(f"invalid regular expression {expression!r}: {error}") from error
        if self.mode == "auto" and self.phase is None:
            raise ValueError("mode: auto needs the `phase` (and level) to roll back")
        return self


# --- access and people -----------------------------------------------------------------


class Role(StrictModel):
    """Slack user IDs and user-group IDs holding a role."""

    users: list[str] = []
    groups: list[str] = []


ACCESS_ACTIONS = ("rollback", "preflight", "validate", "cancel", "verify", "approve", "incident", "rehearse")


class Access(StrictModel):
    """Who may do what. Unset in the runbook: nobody may roll back.

    `actions` maps an action (`rollback`, `preflight`, `validate`, `cancel`, `verify`, `approve`,
    `incident`), optionally narrowed to a phase or level (`rollback/phase3`,
    `rollback/phase3/level3`), to the role it needs; the most specific entry wins, `default`
    covers the rest. `channels` (IDs or `#names`) limits where commands are accepted.
    """

    roles: dict[str, Role]
    default: str = "operator"
    actions: dict[str, str] = {}
    channels: list[str] = []

    @model_validator(mode="after")
    def _roles_exist(self) -> Access:
        for role in [self.default, *self.actions.values()]:
            if role not in self.roles:
                raise ValueError(f"role {role!r} is used but not defined under roles")
        for key in self.actions:
            parts = key.split("/")
            if parts[0] not in ACCESS_ACTIONS or len(parts) > 3 or not all(parts):
                raise ValueError(f"unknown action {key!r}: use one of {', '.join(ACCESS_ACTIONS)}, "
                                 "optionally /<phase>[/<level>]")  # fmt: skip
            if parts[0] == "incident" and len(parts) > 1:
                raise ValueError("`incident` (PagerDuty and alert cards) cannot be narrowed to a phase")
        return self


class ChecklistItem(StrictModel):
    """One line of the recovery validation checklist; with `run`, the worker checks it."""

    name: str
    run: list[str] | None = None
    timeout: Duration | None = None


# --- phases ---------------------------------------------------------------------------


class Level(StrictModel):
    """A rollback level: its steps, its time budget, and how many approvals it needs."""

    title: str | None = None
    when: str | None = None
    budget: Duration
    approvals: Annotated[int, Field(ge=1, le=2)] = 1
    steps: Annotated[list[Step], Field(min_length=1)]
    rehearsal: RehearsalSchedule | None = None  # overrides the runbook's


class Phase(StrictModel):
    """A phase of the remediation, with its pre-flight checks, rollback levels and validation."""

    title: str
    risk: Literal["minimal", "medium", "high"]
    scenario: str | None = None
    analysis_only: bool = False
    checkpoint: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    preflight: list[Step] = []
    preflight_budget: Duration = 1800.0
    levels: dict[Name, Level] = {}
    validation: list[Step] = []
    validation_budget: Duration = 1800.0
    warning_signs: list[str] = []
    stop_criteria: list[str] = []
    recovery_actions: list[str] = []
    monitoring: dict[str, Threshold] = {}
    rollback_criteria: dict[str, Threshold] = {}

    @property
    def first_level(self) -> str | None:
        """The level `/rollback <phase>` means when no level is given."""
        return next(iter(self.levels), None)


class Runbook(StrictModel):
    """A whole runbook file. `repo` is resolved against the file's folder by the loader."""

    version: Literal[1]
    service: Name
    repo: Path
    main_branch: str = "main"
    alert_channel: str
    vars: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = {}
    health: dict[Name, HealthSource] = {}
    alerts: list[AlertRule] = []
    access: Access | None = None
    contacts: Contacts = Contacts()
    escalation: Escalation = Escalation()
    recovery_checklist: list[ChecklistItem] = []
    recovery_target: Duration = 3600.0
    post_rollback_actions: list[str] = []
    rehearsal: RehearsalSchedule | None = None
    readiness: Readiness = Readiness()
    status_page: StatusPage = StatusPage()
    tracking_issue: Annotated[str, Field(pattern=r"^[\w.-]+/[\w.-]+#[0-9]+$")] | None = None  # owner/repo#234
    phases: Annotated[dict[Name, Phase], Field(min_length=1)]

    _named_in_commands: bool = PrivateAttr(default=False)  # set by the catalog when it has several

    def phase(self, name: str) -> Phase:
        """The phase called `name`; `KeyError` when there is none."""
        return self.phases[name]

    @property
    def service_word(self) -> str:
        """`billing ` when commands must name the service (a folder of several runbooks), else ''."""
        return f"{self.service} " if self._named_in_commands else ""

    @property
    def service_option(self) -> str:
        """` --service billing` for the CLI when it must name the service, else ''."""
        return f" --service {self.service}" if self._named_in_commands else ""

    def named_in_commands(self) -> Runbook:
        """A copy whose hints name its service (it is one of several)."""
        copy = self.model_copy()
        copy._named_in_commands = True
        return copy
