"""SLA arithmetic, pure: policies per priority, the calendar and business clocks, thresholds.

The one source of due times: every start of a response cycle (a new ticket by mail or phone, a
user's reply, a reopen by an agent, the CLI or a missed call) takes its `Cycle` from
`SlaPolicy.cycle`, by the ticket's priority.

A ticket's response cycle starts at `cycle_started_at`. Four thresholds follow from it:
`warn-24h` and `breach-24h` (the response target), `warn-48h` and `breach-48h` (the hard
limit; the names are the stable keys even when a priority has other targets). An alert is
unique per (ticket, cycle, threshold). Pending time never counts because a user message
after pending starts a new cycle, and pending tickets are not swept.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

from config.calendar import DAY_SECONDS, WeeklyRule, parse_hours
from config.sla import BusinessHoursSettings, PrioritySla, SlaSettings
from tickets.sla.calendar import merge_spans

if TYPE_CHECKING:
    from tickets.models import Ticket

THRESHOLDS = ("warn-24h", "breach-24h", "warn-48h", "breach-48h")
SEARCH_DAYS = 800  # a business clock that finds no opening hour in this many days is broken


class SlaError(Exception):
    """The SLA configuration cannot measure time."""


class SlaClock(Protocol):
    """Measures SLA time: adds SLA hours to a moment, counts SLA hours between two moments."""

    def add(self, start: datetime, hours: float) -> datetime: ...

    def elapsed(self, start: datetime, end: datetime) -> float: ...


class CalendarClock:
    """Wall-clock hours: every real hour counts (DST-proof because it works on UTC instants)."""

    def add(self, start: datetime, hours: float) -> datetime:
        return start.astimezone(UTC) + timedelta(hours=hours)

    def elapsed(self, start: datetime, end: datetime) -> float:
        return (end - start).total_seconds() / 3600


class BusinessClock:
    """Counts only opening hours: weekly hours, seasons replacing them, public holidays closed."""

    def __init__(self, settings: BusinessHoursSettings, zone: ZoneInfo) -> None:
        self._settings = settings
        self._zone = zone
        self._weekly = [parse_hours(s) for s in settings.hours]
        self._seasons = [(season, [parse_hours(s) for s in season.hours]) for season in settings.seasons]
        self._closed = {date.fromisoformat(d) for d in settings.extra_closed_days}
        self._holidays: dict[int, set[date]] = {}
        self._spans: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    def is_holiday(self, day: date) -> bool:
        if day in self._closed:
            return True
        if not self._settings.holidays_country:
            return False
        if day.year not in self._holidays:
            found = holiday_calendars.country_holidays(
                self._settings.holidays_country, subdiv=self._settings.holidays_subdiv or None, years=day.year
            )
            self._holidays[day.year] = set(found.keys())
        return day in self._holidays[day.year]

    def _rules_for(self, day: date) -> list[WeeklyRule]:
        for season, rules in self._seasons:
            if season.covers(day.month, day.day):
                return rules
        return self._weekly

    def open_spans(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The opening spans of a local date as UTC (start, end), in order."""
        cached = self._spans.get(day)
        if cached is not None:
            return cached
        seconds: list[tuple[int, int]] = []
        if not self.is_holiday(day):
            for rule in self._rules_for(day):
                if day.weekday() in rule.days:
                    seconds.extend(rule.spans)
        spans = tuple((self._moment(day, s), self._moment(day, e)) for s, e in merge_spans(sorted(seconds)))
        self._spans[day] = spans
        return spans

    def _moment(self, day: date, seconds: int) -> datetime:
        if seconds >= DAY_SECONDS:
            return datetime.combine(day + timedelta(days=1), time(0), tzinfo=self._zone).astimezone(UTC)
        wall = time(seconds // 3600, seconds % 3600 // 60, seconds % 60)
        return datetime.combine(day, wall, tzinfo=self._zone).astimezone(UTC)

    def _days_from(self, start: datetime) -> Iterator[date]:
        first = start.astimezone(self._zone).date()
        return (first + timedelta(days=offset) for offset in range(SEARCH_DAYS))

    def add(self, start: datetime, hours: float) -> datetime:
        remaining = hours * 3600
        start = start.astimezone(UTC)
        for day in self._days_from(start):
            for opens, closes in self.open_spans(day):
                opens = max(opens, start)
                available = (closes - opens).total_seconds()
                if available <= 0:
                    continue
                if remaining <= available:
                    return opens + timedelta(seconds=remaining)
                remaining -= available
        raise SlaError(f"the business calendar has no opening hours within {SEARCH_DAYS} days")

    def elapsed(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        total = 0.0
        last = end.astimezone(self._zone).date()
        for day in self._days_from(start):
            if day > last:
                break
            for opens, closes in self.open_spans(day):
                overlap = (min(closes, end) - max(opens, start)).total_seconds()
                total += max(0.0, overlap)
        return total / 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class Targets:
    """One priority's targets in SLA hours, warnings included."""

    response_hours: float
    hard_hours: float
    warn_response_hours: float  # SLA hours after the cycle start when the first warning fires
    warn_hard_hours: float

    @classmethod
    def from_settings(cls, spec: PrioritySla) -> "Targets":
        def lead(target: float) -> float:
            if spec.warn_before_share is not None:
                return target * spec.warn_before_share
            return min(spec.warn_before_hours or 0.0, target)

        return cls(
            response_hours=spec.response_hours,
            hard_hours=spec.hard_hours,
            warn_response_hours=spec.response_hours - lead(spec.response_hours),
            warn_hard_hours=spec.hard_hours - lead(spec.hard_hours),
        )

    @property
    def max_lead_hours(self) -> float:
        """The longest warning lead: how far ahead of the response due time any threshold fires."""
        return self.response_hours - self.warn_response_hours


@dataclass(frozen=True, slots=True, kw_only=True)
class Threshold:
    """One threshold of one cycle: when it fires and what it means."""

    key: str  # one of THRESHOLDS
    stage: str  # "warning" | "breach"
    limit: str  # "response" | "hard"
    target_hours: float
    at: datetime
    deadline: datetime  # the due time of its limit (the breach moment)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cycle:
    """One response cycle of a ticket: what the Ticket row stores about it."""

    number: int
    started_at: datetime
    response_due_at: datetime  # UTC
    hard_due_at: datetime  # UTC

    def columns(self) -> dict[str, object]:
        """The Ticket columns of this cycle, for a new row."""
        return {
            "cycle": self.number,
            "cycle_started_at": self.started_at,
            "response_due_at": self.response_due_at,
            "hard_due_at": self.hard_due_at,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Promise:
    """The response target told to the user: SLA hours and the due moment in the service's zone."""

    hours: float
    due_at: datetime
    working_hours: bool  # the hours count opening hours only


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaPolicy:
    """The SLA policy: a clock, default targets, targets per priority, catch-up tolerance."""

    clock: SlaClock
    default: Targets
    priorities: Mapping[str, Targets] = field(default_factory=dict)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Madrid"))  # the service's: what mail shows
    catch_up: timedelta = timedelta(minutes=10)
    clock_name: str = "calendar"

    @classmethod
    def from_settings(cls, sla: SlaSettings, timezone: str = "Europe/Madrid") -> "SlaPolicy":
        """`timezone` is the service's (settings.calendar.timezone); opening hours may have their own."""
        business_zone = ZoneInfo(sla.business.timezone or timezone)
        clock: SlaClock = BusinessClock(sla.business, business_zone) if sla.clock == "business" else CalendarClock()
        return cls(
            clock=clock,
            default=Targets.from_settings(sla.default),
            priorities={name: Targets.from_settings(spec) for name, spec in sla.priorities.items()},
            zone=ZoneInfo(timezone),
            catch_up=timedelta(minutes=sla.catch_up_minutes),
            clock_name=sla.clock,
        )

    def targets(self, priority: str) -> Targets:
        return self.priorities.get(priority, self.default)

    def cycle(self, priority: str, *, number: int, start: datetime) -> Cycle:
        """Cycle `number` of a ticket of this priority, starting at `start`: its due times."""
        targets = self.targets(priority)
        return Cycle(
            number=number,
            started_at=start,
            response_due_at=self.clock.add(start, targets.response_hours),
            hard_due_at=self.clock.add(start, targets.hard_hours),
        )

    def promise(self, priority: str, *, response_due: datetime) -> Promise:
        """What the acknowledgement tells the user about a cycle whose response falls due then."""
        return Promise(
            hours=display_hours(self.targets(priority).response_hours),
            due_at=response_due.astimezone(self.zone),
            working_hours=self.clock_name == "business",
        )

    def thresholds(self, priority: str, start: datetime) -> tuple[Threshold, ...]:
        """The four thresholds of a cycle, in the order they fire."""
        t = self.targets(priority)
        due = {"response": self.clock.add(start, t.response_hours), "hard": self.clock.add(start, t.hard_hours)}
        plan = (
            ("warn-24h", "warning", "response", t.response_hours, t.warn_response_hours),
            ("breach-24h", "breach", "response", t.response_hours, t.response_hours),
            ("warn-48h", "warning", "hard", t.hard_hours, t.warn_hard_hours),
            ("breach-48h", "breach", "hard", t.hard_hours, t.hard_hours),
        )
        return tuple(
            Threshold(
                key=key,
                stage=stage,
                limit=limit,
                target_hours=target,
                at=due[limit] if stage == "breach" else self.clock.add(start, after),
                deadline=due[limit],
            )
            for key, stage, limit, target, after in plan
        )

    def horizon(self, now: datetime) -> datetime:
        """The latest stored response due time of a ticket whose first threshold may have fired by `now`.

        warn-24h = due - lead (on the SLA clock) <= now  implies  due <= add(now, lead), since
        adding SLA hours is monotonic. One second covers rounding in stored values.
        """
        lead = max([self.default.max_lead_hours, *(t.max_lead_hours for t in self.priorities.values())])
        return self.clock.add(now, lead) + timedelta(seconds=1)

    def elapsed_hours(self, start: datetime, end: datetime) -> float:
        """SLA hours between two moments on this policy's clock."""
        return self.clock.elapsed(start, end)


def start_cycle(ticket: "Ticket", *, at: datetime, sla: SlaPolicy) -> None:
    """A new response cycle from `at`: the ticket waits for us again (every reopen goes through here)."""
    _set_cycle(ticket, sla.cycle(ticket.priority, number=ticket.cycle + 1, start=at))


def retarget_cycle(ticket: "Ticket", sla: SlaPolicy) -> None:
    """The current cycle's due times for the ticket's (new) priority, still counted from the cycle's start."""
    _set_cycle(ticket, sla.cycle(ticket.priority, number=ticket.cycle, start=ticket.cycle_started_at))


def _set_cycle(ticket: "Ticket", cycle: Cycle) -> None:
    ticket.cycle, ticket.cycle_started_at = cycle.number, cycle.started_at
    ticket.response_due_at, ticket.hard_due_at = cycle.response_due_at, cycle.hard_due_at


def display_hours(value: float) -> float:
    """Hours as mail shows them: 24, not 24.0; 1.5 stays 1.5."""
    return int(value) if float(value).is_integer() else value


def alert_key(ticket_id: int, cycle: int, threshold: str) -> str:
    """The idempotency key of one alert."""
    return f"sla:{ticket_id}:{cycle}:{threshold}"


def is_answered(*, status: str, cycle_started_at: datetime, first_answered_at: datetime | None) -> bool:
    """Whether the response clock of the current cycle has stopped."""
    if status in ("pending", "resolved", "closed"):
        return True
    return first_answered_at is not None and first_answered_at >= cycle_started_at
