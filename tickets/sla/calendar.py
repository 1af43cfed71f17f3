"""The service calendar: when a phone line is open. Pure functions of the settings and a time.

Inputs are aware datetimes (UTC or any zone); the hours are wall-clock times in the line's
time zone, so opening times stay right across daylight-saving changes.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from config.calendar import DAY_SECONDS, CalendarSettings, PhoneLineSettings

DEFAULT_ZONE = "Europe/Madrid"
SEARCH_DAYS = 370  # a yearly calendar repeats within this many days


@dataclass(frozen=True, slots=True, kw_only=True)
class LineStatus:
    """What a message needs to say about a line at one moment (local times of the line)."""

    number: str
    always_open: bool
    open_now: bool
    today: date
    hours_today: tuple[tuple[time, time], ...]  # an end of time.max means 24:00
    next_opening: datetime | None  # local; None when open now or never opens


def zone_of(line: PhoneLineSettings) -> ZoneInfo:
    return ZoneInfo(line.timezone or DEFAULT_ZONE)


def _spans_on(line: PhoneLineSettings, day: date) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for rule in line.rules_for(day.month, day.day):
        if day.weekday() in rule.days:
            spans.extend(rule.spans)
    return merge_spans(sorted(spans))


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted (start, end) spans with overlapping ones joined."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _as_time(seconds: int) -> time:
    if seconds >= DAY_SECONDS:
        return time.max
    return time(seconds // 3600, seconds % 3600 // 60, seconds % 60)


def _local_moment(day: date, seconds: int, zone: ZoneInfo) -> datetime:
    """The aware moment of a wall-clock time; a time skipped by DST lands just after the gap."""
    if seconds >= DAY_SECONDS:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    naive = datetime.combine(day, _as_time(seconds))
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("the calendar needs an aware datetime")


def hours_on(line: PhoneLineSettings, day: date) -> list[tuple[time, time]]:
    """The opening spans on a local date, as wall-clock (start, end); end time.max = 24:00."""
    return [(_as_time(s), _as_time(e)) for s, e in _spans_on(line, day)]


def is_open(line: PhoneLineSettings, at: datetime) -> bool:
    """Whether the line is open at an aware moment."""
    _require_aware(at)
    local = at.astimezone(zone_of(line))
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    return any(start <= seconds < end for start, end in _spans_on(line, local.date()))


def next_opening(line: PhoneLineSettings, at: datetime) -> datetime | None:
    """The first moment at or after `at` when the line is open (UTC); None if it never opens."""
    _require_aware(at)
    if is_open(line, at):
        return at.astimezone(UTC)
    zone = zone_of(line)
    first_day = at.astimezone(zone).date()
    for offset in range(SEARCH_DAYS):
        day = first_day + timedelta(days=offset)
        for start, _ in _spans_on(line, day):
            moment = _local_moment(day, start, zone)
            if moment > at:
                return moment.astimezone(UTC)
    return None


def line_status(line: PhoneLineSettings, at: datetime) -> LineStatus:
    """A template-friendly summary of a line at `at`: today's hours and the next opening."""
    _require_aware(at)
    zone = zone_of(line)
    today = at.astimezone(zone).date()
    spans = tuple(hours_on(line, today))
    open_now = is_open(line, at)
    upcoming = None if open_now else next_opening(line, at)
    return LineStatus(
        number=line.number,
        always_open=all(spans == ((time(0), time.max),) for spans in _week_of(line, today)),
        open_now=open_now,
        today=today,
        hours_today=spans,
        next_opening=upcoming.astimezone(zone) if upcoming else None,
    )


def _week_of(line: PhoneLineSettings, day: date) -> list[tuple[tuple[time, time], ...]]:
    return [tuple(hours_on(line, day + timedelta(days=i))) for i in range(7)]


def service_lines(calendar: CalendarSettings, at: datetime) -> dict[str, LineStatus]:
    """The context the acknowledgement needs: {"phone": ..., "revocation": ...}."""
    return {
        "phone": line_status(calendar.phone, at),
        "revocation": line_status(calendar.revocation, at),
    }
