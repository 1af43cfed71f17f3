"""The quietest hours to call, for the acknowledgement: the report's quiet windows of the
previous complete month, when its general line had enough calls to say so."""

from datetime import datetime

from sqlmodel import Session

from tickets.report.figures import month_bounds, previous_month, quiet_windows
from tickets.report.queries import call_slots

MIN_CALLS = 200


def quiet_spans(windows: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """("08:00", "10:30") pairs of the report's "08:00–10:30" windows, for a sentence. Pure."""
    return tuple((w.split("–")[0], w.split("–")[1]) for w in windows)


def quiet_hours(
    session: Session, *, now: datetime, timezone: str, line: str = "general", min_calls: int = MIN_CALLS
) -> tuple[str, ...]:
    """The windows ("08:00–10:30", ...) of the month before `now`'s; () with fewer than `min_calls`."""
    start, end = month_bounds(previous_month(now, timezone), timezone)
    slots, _average, _peak = call_slots(session, start, end, timezone, line)
    if sum(s.calls for s in slots) < min_calls:
        return ()
    return quiet_windows(slots)
