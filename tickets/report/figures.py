"""The monthly report's figures as values, and their display: pure (the queries are in queries.py).

Every figure is defined in README.md ("Monthly report: definitions"). The month runs from
midnight of its first day to midnight of the next month's first day in the service's zone.
"""

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

RT_BUCKETS = (("<1h", 3600), ("1-4h", 4 * 3600), ("4-8h", 8 * 3600), ("8-24h", 24 * 3600), ("24-48h", 48 * 3600))
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class ReportError(ValueError):
    """The report cannot be made as asked (e.g. a malformed month)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Share:
    """A count and its percentage of a whole (two decimals; 0 when the whole is 0)."""

    count: int
    pct: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    """Calls that started in one half hour of the day (local time) over the month."""

    start: str  # "08:30"
    calls: int
    avg_wait_seconds: float
    quiet: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Day:
    day: str  # ISO date, local
    emails: int
    answers: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MonthlyReport:
    """The figures of one month."""

    month: str
    timezone: str
    emails_received: int
    answers: int
    answers_by_email: int
    answers_by_phone: int
    answered_ratio_pct: float
    escalated: Share
    other_actions: Share
    escalated_waiting: Share  # of the escalated tickets
    escalated_tickets: int
    under_24h: Share
    under_48h: Share
    over_48h: Share
    response_buckets: tuple[tuple[str, int], ...]
    calls: int
    attended: Share
    lost: Share
    abandoned: Share
    slots: tuple[Slot, ...]
    quiet_windows: tuple[str, ...]  # "08:00–10:30"
    average_wait_seconds: float
    peak_wait_seconds: float
    daily: tuple[Day, ...]
    categories: tuple[tuple[str, int], ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def share(count: int, whole: int) -> Share:
    return Share(count=count, pct=round(100 * count / whole, 2) if whole else 0.0)


def month_bounds(month: str, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of "YYYY-MM" in the zone, as aware UTC datetimes."""
    match = _MONTH.match(month)
    if not match:
        raise ReportError(f"bad month {month!r} (use YYYY-MM)")
    year, number = int(match[1]), int(match[2])
    zone = ZoneInfo(timezone)
    try:
        start = datetime(year, number, 1, tzinfo=zone)
        end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)
    except (ValueError, OverflowError):  # year 0, 9999-12 (ends in year 10000), 0001-01 in UTC
        raise ReportError(f"month {month!r} is out of range") from None


def previous_month(now: datetime, timezone: str) -> str:
    """The month before the one `now` falls in (locally): what the report of the 1st covers."""
    first = now.astimezone(ZoneInfo(timezone)).date().replace(day=1)
    last = first - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def quiet_windows(slots: tuple[Slot, ...]) -> tuple[str, ...]:
    """Runs of consecutive quiet half hours, as "08:00–10:30"."""
    windows: list[list[int]] = []
    for slot in slots:
        h, m = (int(p) for p in slot.start.split(":"))
        minute = h * 60 + m
        if not slot.quiet:
            continue
        if windows and windows[-1][1] == minute:
            windows[-1][1] = minute + 30
        else:
            windows.append([minute, minute + 30])
    return tuple(f"{a // 60:02d}:{a % 60:02d}–{b // 60:02d}:{b % 60:02d}" for a, b in windows)


def _num(value: float, language: str) -> str:
    text = f"{value:,}"
    return text.replace(",", ".") if language == "es" else text


def _pct(value: float, language: str, decimals: int = 2) -> str:
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") + " %" if language == "es" else text + "%"


def _minutes(seconds: float, language: str) -> str:
    text = f"{seconds / 60:.1f}"
    return (text.replace(".", ",") if language == "es" else text) + " min"


def _width(value: float, top: float, full: int = 300) -> int:
    return round(full * value / top) if top else 0


SHARES = ("escalated", "other_actions", "escalated_waiting", "under_24h", "under_48h", "over_48h")
COUNTS = ("emails_received", "answers", "answers_by_email", "answers_by_phone", "calls")


def display(report: MonthlyReport, language: str) -> dict[str, Any]:
    """The report's figures as display strings and bar widths (px), for templates; no labels."""
    return {**_headline(report, language), **_charts(report, language)}


def _headline(report: MonthlyReport, language: str) -> dict[str, Any]:
    shares: dict[str, Share] = {name: getattr(report, name) for name in SHARES}
    return {
        "month": report.month,
        "timezone": report.timezone,
        **{name: _num(getattr(report, name), language) for name in COUNTS},
        "answered_ratio": _pct(report.answered_ratio_pct, language, 0),
        **{name: _pct(share.pct, language) for name, share in shares.items()},
        **{f"{name}_count": _num(share.count, language) for name, share in shares.items()},
        **{name: _pct(getattr(report, name).pct, language) for name in ("attended", "lost", "abandoned")},
        "quiet_windows": ", ".join(report.quiet_windows),
        "peak_wait": _minutes(report.peak_wait_seconds, language),
        "average_wait": _minutes(report.average_wait_seconds, language),
    }


def _charts(report: MonthlyReport, language: str) -> dict[str, Any]:
    top_slot = max((s.calls for s in report.slots), default=0)
    top_bucket = max((n for _, n in report.response_buckets), default=0)
    top_day = max((max(d.emails, d.answers) for d in report.daily), default=0)
    top_category = max((n for _, n in report.categories), default=0)
    return {
        "slots": [
            {
                "start": s.start,
                "calls": _num(s.calls, language),
                "wait": _minutes(s.avg_wait_seconds, language),
                "calls_width": _width(s.calls, top_slot, 160),
                "wait_width": _width(s.avg_wait_seconds, report.peak_wait_seconds, 160),
                "quiet": s.quiet,
            }
            for s in report.slots
        ],
        "buckets": [
            {"name": name, "count": _num(n, language), "width": _width(n, top_bucket)}
            for name, n in report.response_buckets
        ],
        "daily": [
            {
                "day": d.day[8:],
                "emails": _num(d.emails, language),
                "answers": _num(d.answers, language),
                "emails_height": _width(d.emails, top_day, 80),
                "answers_height": _width(d.answers, top_day, 80),
            }
            for d in report.daily
        ],
        "categories": [
            {"name": name, "count": _num(n, language), "width": _width(n, top_category, 200)}
            for name, n in report.categories
        ],
    }
