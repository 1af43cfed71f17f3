"""Pure parts of the report: month bounds in the service zone, quiet windows, display strings."""

from datetime import UTC, datetime

import pytest

from tickets.report.figures import ReportError, Slot, month_bounds, previous_month, quiet_windows


def test_month_bounds_are_local_midnights() -> None:
    start, end = month_bounds("2013-10", "Europe/Madrid")
    assert start == datetime(2013, 9, 30, 22, 0, tzinfo=UTC)  # CEST
    assert end == datetime(2013, 10, 31, 23, 0, tzinfo=UTC)  # CET after the change on the 27th
    assert month_bounds("2013-12", "UTC")[1] == datetime(2014, 1, 1, tzinfo=UTC)
    with pytest.raises(ReportError):
        month_bounds("2013-13", "UTC")


def test_previous_month_is_local() -> None:
    assert previous_month(datetime(2013, 10, 31, 23, 30, tzinfo=UTC), "Europe/Madrid") == "2013-10"
    assert previous_month(datetime(2014, 1, 1, 6, 0, tzinfo=UTC), "Europe/Madrid") == "2013-12"


def test_quiet_windows_join_consecutive_half_hours() -> None:
    slots = tuple(
        Slot(start=s, calls=1, avg_wait_seconds=0, quiet=q)
        for s, q in (("08:00", True), ("08:30", True), ("09:00", False), ("13:30", True), ("18:30", True))
    )
    assert quiet_windows(slots) == ("08:00–09:00", "13:30–14:00", "18:30–19:00")
