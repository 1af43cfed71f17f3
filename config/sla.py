"""Settings for SLA clocks and the scheduler: `[sla]` and `[scheduler]`.

    [sla]
    clock = "calendar"                 # or "business": only opening hours count
    [sla.default]                      # every priority not listed under [sla.priorities]
    response_hours = 24
    hard_hours = 48
    warn_before_hours = 4              # or warn_before_share = 0.1 (a share of each target)
    [sla.priorities.urgent]
    response_hours = 4
    hard_hours = 8
    warn_before_hours = 1
    [sla.business]
    hours = ["mon-fri 08:00-19:00"]
    holidays_country = "ES"
    holidays_subdiv = "MD"
"""

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.calendar import SeasonSettings, parse_hours

_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrioritySla(_Section):
    """Targets of one priority: the response target, the hard limit and the warning lead."""

    response_hours: float = Field(default=24.0, gt=0)
    hard_hours: float = Field(default=48.0, gt=0)
    warn_before_hours: float | None = Field(default=4.0, ge=0)
    warn_before_share: float | None = Field(default=None, ge=0, lt=1)

    @model_validator(mode="after")
    def _consistent(self) -> "PrioritySla":
        if self.hard_hours < self.response_hours:
            raise ValueError("hard_hours must not be less than response_hours")
        if self.warn_before_share is not None:
            self.warn_before_hours = None
        if self.warn_before_hours is None and self.warn_before_share is None:
            raise ValueError("set warn_before_hours or warn_before_share")
        if self.warn_before_hours is not None and self.warn_before_hours >= self.response_hours:
            raise ValueError("warn_before_hours must be less than response_hours")
        return self


def _default_priorities() -> dict[str, PrioritySla]:
    return {"urgent": PrioritySla(response_hours=4, hard_hours=8, warn_before_hours=1)}


class BusinessHoursSettings(_Section):
    """The opening hours the business clock counts: weekly hours, seasons, public holidays."""

    hours: list[str] = ["mon-fri 08:00-19:00"]
    seasons: list[SeasonSettings] = []
    timezone: str = ""  # empty: the service calendar's time zone
    holidays_country: str = "ES"  # empty: no public holidays
    holidays_subdiv: str = "MD"
    extra_closed_days: list[str] = []  # "YYYY-MM-DD", e.g. a local holiday the package lacks

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: list[str]) -> list[str]:
        for spec in value:
            parse_hours(spec)
        return value


class SlaSettings(_Section):
    """SLA policies per priority and the clock they are measured on."""

    clock: Literal["calendar", "business"] = "calendar"
    default: PrioritySla = PrioritySla()
    priorities: dict[str, PrioritySla] = Field(default_factory=_default_priorities)
    business: BusinessHoursSettings = BusinessHoursSettings()
    catch_up_minutes: float = Field(default=10.0, ge=0)  # an alert later than this says how late


class SchedulerSettings(_Section):
    """The recurring jobs of the worker (APScheduler 3, in-memory job store)."""

    enabled: bool = True
    sweep_seconds: float = Field(default=60.0, ge=1)
    misfire_grace_seconds: int = Field(default=300, ge=1)
    digest_time: str = "08:00"  # local time of the service calendar
    digest_days: str = "mon-sun"  # cron day_of_week
    monthly_report_day: int = Field(default=1, ge=1, le=28)
    monthly_report_time: str = "07:00"
    resolved_close_days: float = Field(default=7.0, gt=0)  # quiet period before a resolved ticket closes

    @field_validator("digest_time", "monthly_report_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not _HH_MM.match(value):
            raise ValueError(f"bad time {value!r} (use HH:MM)")
        return value
