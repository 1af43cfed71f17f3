"""The CLI's listing helpers: columns dropped least useful first, times read in the service's zone."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import typer

from ventanilla.tables import Column, fit, parse_when, short_time, shown_line

MADRID = ZoneInfo("Europe/Madrid")
COLUMNS = (Column("#", 6), Column("subject", 20, flexible=True), Column("lang", 4, drop=9), Column("due", 11, drop=2))


def test_the_least_useful_columns_go_first_until_the_table_fits() -> None:
    assert fit(COLUMNS, 200) == [0, 1, 2, 3]
    assert fit(COLUMNS, 6 + 20 + 11 + 3 * 3 + 1) == [0, 1, 3], "lang (drop 9) goes before due (drop 2)"
    assert fit(COLUMNS, 40) == [0, 1]
    assert fit(COLUMNS, 10) == [0, 1], "columns that are never dropped stay"


def test_times_without_an_offset_are_in_the_service_zone() -> None:
    assert parse_when("2026-10-05T09:00", "--since", MADRID) == datetime(2026, 10, 5, 9, 0, tzinfo=MADRID)
    assert parse_when("2026-10-05", "--since", MADRID) == datetime(2026, 10, 5, 0, 0, tzinfo=MADRID)
    assert parse_when("2026-10-31", "--until", MADRID, end=True) == datetime(2026, 11, 1, 0, 0, tzinfo=MADRID)
    explicit = parse_when("2026-10-05T09:00+00:00", "--since", MADRID)
    assert explicit is not None and explicit.utcoffset() is not None and explicit.hour == 9
    assert parse_when(None, "--since", MADRID) is None
    with pytest.raises(typer.Exit) as raised:
        parse_when("yesterday", "--since", MADRID)
    assert raised.value.exit_code == 2


def test_short_times_and_the_shown_line() -> None:
    now = datetime(2026, 10, 5, 12, 0, tzinfo=MADRID)
    assert short_time(datetime(2026, 10, 5, 7, 30, tzinfo=ZoneInfo("UTC")), MADRID, now) == "10-05 09:30"
    assert short_time(datetime(2025, 12, 30, 9, 0, tzinfo=MADRID), MADRID, now) == "2025-12-30"
    assert shown_line(50, 2000) == "50 of 2,000 shown (--limit 0 for all)"
    assert shown_line(3, 3) == "3 of 3 shown"
