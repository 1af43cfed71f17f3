"""The clock: the only place in the code base that reads the wall clock.

`now()` is the wall clock (it can be stepped back or forward by an operator or NTP); use it
for what is stored and shared. `monotonic()` never goes back; use it for in-process waits
and breakers, so that a clock step never stops or hurries them.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that tests move by hand."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start
        self._monotonic = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        """Seconds that went by: `advance` moves it forward, `set` (a step of the wall clock) not."""
        return self._monotonic

    def advance(self, **delta: float) -> "FakeClock":
        step = timedelta(**delta)
        self._now += step
        self._monotonic += max(0.0, step.total_seconds())
        return self

    def set(self, moment: datetime) -> None:
        self._now = moment


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; naive values (as SQLite returns them) are taken to be UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
