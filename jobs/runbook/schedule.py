"""Runbook sections for rehearsals and readiness (docs/runbook.md): how often every level is
rehearsed, and how old a checkpoint may get before the level counts as not ready.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from jobs.core.durations import parse_duration

# RQ's scheduler works in seconds; a rehearsal more often than once a minute would only be noise.
Period = Annotated[float, BeforeValidator(parse_duration), Field(ge=60)]
Age = Annotated[float, BeforeValidator(parse_duration)]


class RehearsalSchedule(BaseModel):
    """`rehearsal: {every: 7d}`: each level is rehearsed this often (per runbook, per level)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Period


class Readiness(BaseModel):
    """`readiness: {max_checkpoint_age: 30d}`: an older checkpoint makes a level not ready."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_checkpoint_age: Age = 30 * 86400.0
