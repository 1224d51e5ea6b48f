"""The runbook's people and clocks: contacts (names, or names with e-mail addresses), the
escalation policy (pages and the communication clocks), the status page component.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from jobs.core.durations import parse_duration

Duration = Annotated[float, BeforeValidator(parse_duration)]


class StrictModel(BaseModel):
    """Base of every runbook model: unknown keys are errors, values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _contact(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class Contact(StrictModel):
    """A person or role to reach: a name, and an address rollbot can e-mail."""

    name: Annotated[str, Field(min_length=1)]
    email: Annotated[str, Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$")] | None = None

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """The name with the address, for people who have to call or write."""
        return f"{self.name} <{self.email}>" if self.email else self.name


ContactEntry = Annotated[Contact, BeforeValidator(_contact)]


class Contacts(StrictModel):
    """Escalation contacts from the manual, in the order they are tried: names, or
    `{name, email}` for those rollbot e-mails.
    """

    technical: list[ContactEntry] = []
    business: list[ContactEntry] = []
    executive: list[ContactEntry] = []  # for customer-facing outages over `escalation.executive_after`
    customer: list[ContactEntry] = []


class Escalation(StrictModel):
    """When rollbot pages PagerDuty, and the communication clocks (the manual's defaults)."""

    page_on: list[Literal["failed", "timed_out", "budget_exceeded", "interrupted", "cancelled"]] = [
        "failed", "timed_out", "budget_exceeded", "interrupted",
    ]  # fmt: skip
    page_on_start: list[str] = ["phase3/level3"]  # "phase/level": the nuclear option pages when it starts
    severity: Literal["critical", "error", "warning", "info"] = "critical"
    stakeholders_within: Duration = 900.0  # "Alert stakeholders within 15 minutes"
    executive_after: Duration = 1800.0  # "CEO (for customer-facing outages >30 minutes)"
    status_page_after: Duration = 300.0  # "Status Page: customer communication for >5 minute outages"
    customer_facing: bool = False  # every incident of this service is customer-facing
    auto_send: bool = True  # e-mail the business contacts by itself at `stakeholders_within`


class StatusPage(StrictModel):
    """The Statuspage component a customer-facing incident of this service affects."""

    component_id: str | None = None
