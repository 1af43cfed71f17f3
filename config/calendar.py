"""Settings for the service calendar: the phone lines' opening hours, seasons and time zone.

Opening hours are written as short strings so that they read well in TOML:

    hours = ["mon-fri 08:00-19:00", "sat 09:00-14:00"]   # days, then one or more spans
    hours = ["mon,wed 09:00-13:00,16:00-18:00"]          # lists of days and of spans
    hours = ["24/7"]                                     # always open

A season replaces the weekly hours on the dates it covers; its `start` and `end` are
"MM-DD" (both inclusive) and repeat every year (a season may run across New Year).
"""

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS = "24/7"
DAY_SECONDS = 24 * 3600
_SPAN = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


@dataclass(frozen=True, slots=True, kw_only=True)
class WeeklyRule:
    """One parsed hours string: weekdays (0 = Monday) and spans in seconds after midnight."""

    days: frozenset[int]
    spans: tuple[tuple[int, int], ...]


def _parse_days(text: str) -> set[int]:
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise ValueError(f"unknown day {part!r} (use {', '.join(DAY_NAMES)})")
        start = DAY_NAMES.index(first)
        stop = DAY_NAMES.index(last) if last else start
        days.update(
            range(start, stop + 1) if start <= stop else [*range(start, 7), *range(stop + 1)]
        )
    return days


def _parse_span(text: str) -> tuple[int, int]:
    match = _SPAN.match(text)
    if not match:
        raise ValueError(f"bad time span {text!r} (use HH:MM-HH:MM)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if start >= DAY_SECONDS or end > DAY_SECONDS or start >= end:
        raise ValueError(f"bad time span {text!r} (start must be before end, end at most 24:00)")
    return start, end


def parse_hours(spec: str) -> WeeklyRule:
    """Parse one hours string ("mon-fri 08:00-19:00", "24/7") into a rule."""
    text = " ".join(spec.lower().split())
    if text == ALWAYS:
        return WeeklyRule(days=frozenset(range(7)), spans=((0, DAY_SECONDS),))
    days_text, _, spans_text = text.partition(" ")
    if not spans_text:
        raise ValueError(f"bad hours {spec!r} (use e.g. 'mon-fri 08:00-19:00' or '24/7')")
    days = _parse_days(days_text)
    spans = tuple(sorted(_parse_span(s) for s in spans_text.replace(" ", "").split(",")))
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise ValueError(f"overlapping spans in {spec!r}")
    return WeeklyRule(days=frozenset(days), spans=spans)


def _check_hours(value: list[str]) -> list[str]:
    for spec in value:
        parse_hours(spec)
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeasonSettings(_Section):
    """Hours that replace the weekly hours between two dates of every year."""

    name: str = ""
    start: str  # "MM-DD", inclusive
    end: str  # "MM-DD", inclusive
    hours: list[str] = []  # empty: closed for the whole season

    @field_validator("start", "end")
    @classmethod
    def _month_day(cls, value: str) -> str:
        if not _MONTH_DAY.match(value):
            raise ValueError(f"bad date {value!r} (use MM-DD)")
        return value

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: list[str]) -> list[str]:
        return _check_hours(value)

    def covers(self, month: int, day: int) -> bool:
        """Whether the month/day falls inside this season (ranges may wrap over New Year)."""
        key, start, end = f"{month:02d}-{day:02d}", self.start, self.end
        return start <= key <= end if start <= end else key >= start or key <= end


class PhoneLineSettings(_Section):
    """A phone line: its number, weekly hours and seasonal exceptions."""

    number: str
    hours: list[str] = []
    seasons: list[SeasonSettings] = []
    timezone: str = ""  # empty: the calendar's time zone

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: list[str]) -> list[str]:
        return _check_hours(value)

    def rules_for(self, month: int, day: int) -> list[WeeklyRule]:
        """The rules in force on a date: the first season covering it, else the weekly hours."""
        for season in self.seasons:
            if season.covers(month, day):
                return [parse_hours(s) for s in season.hours]
        return [parse_hours(s) for s in self.hours]


def _default_phone() -> PhoneLineSettings:
    return PhoneLineSettings(
        number="+34 900 000 000",
        hours=["mon-fri 08:00-19:00"],
        seasons=[
            SeasonSettings(
                name="spring",
                start="05-02",
                end="06-30",
                hours=["mon-fri 09:00-21:00", "sat 09:00-14:00"],
            ),
            SeasonSettings(
                name="summer", start="07-28", end="08-29", hours=["mon-fri 09:00-15:00"]
            ),
        ],
    )


def _default_revocation() -> PhoneLineSettings:
    return PhoneLineSettings(number="+34 900 000 024", hours=[ALWAYS])


class CalendarSettings(_Section):
    """The service calendar: time zone, the general phone line and the 24/7 revocation line."""

    timezone: str = "Europe/Madrid"
    phone: PhoneLineSettings = Field(default_factory=_default_phone)
    revocation: PhoneLineSettings = Field(default_factory=_default_revocation)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _lines_inherit_zone(self) -> "CalendarSettings":
        for name in ("phone", "revocation"):
            line: PhoneLineSettings = getattr(self, name)
            if not line.timezone:
                setattr(self, name, line.model_copy(update={"timezone": self.timezone}))
            else:
                self._zone(line.timezone)
        return self
