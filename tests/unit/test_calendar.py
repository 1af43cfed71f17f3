"""The service calendar: opening hours, seasons, DST in Europe/Madrid and a 24/7 line."""

import tomllib
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from config.calendar import CalendarSettings, PhoneLineSettings, SeasonSettings, parse_hours
from tickets.sla.calendar import hours_on, is_open, line_status, next_opening, service_lines

CAL = CalendarSettings()
PHONE, REVOCATION = CAL.phone, CAL.revocation
MADRID = ZoneInfo("Europe/Madrid")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# (moment UTC, open?, next opening UTC or None when open) -- 2026 calendar, Madrid = UTC+1/+2
PHONE_CASES = [
    (utc(2026, 10, 5, 9, 0), True, None),  # Mon 11:00 CEST, regular hours
    (utc(2026, 10, 5, 5, 59), False, utc(2026, 10, 5, 6, 0)),  # Mon 07:59 -> 08:00 today
    (utc(2026, 10, 5, 17, 0), False, utc(2026, 10, 6, 6, 0)),  # Mon 19:00 closes (end exclusive)
    (utc(2026, 10, 9, 18, 0), False, utc(2026, 10, 12, 6, 0)),  # Fri evening -> Monday
    (utc(2026, 5, 1, 17, 30), False, utc(2026, 5, 2, 7, 0)),  # 1 May 19:30: before the season
    (utc(2026, 5, 2, 8, 0), True, None),  # Sat 2 May 10:00: season opens Saturdays
    (utc(2026, 5, 2, 12, 30), False, utc(2026, 5, 4, 7, 0)),  # Sat 14:30 -> Mon 09:00
    (utc(2026, 5, 3, 10, 0), False, utc(2026, 5, 4, 7, 0)),  # Sunday in May: closed
    (utc(2026, 5, 4, 6, 30), False, utc(2026, 5, 4, 7, 0)),  # Mon 08:30 in season: not yet
    (utc(2026, 6, 30, 18, 30), True, None),  # Tue 30 June 20:30: last day of the season
    (utc(2026, 7, 1, 18, 30), False, utc(2026, 7, 2, 6, 0)),  # Wed 1 July 20:30: regular again
    (utc(2026, 7, 1, 6, 30), True, None),  # 08:30 regular
    (utc(2026, 7, 27, 14, 0), True, None),  # Mon 27 July 16:00: regular
    (utc(2026, 7, 28, 13, 30), False, utc(2026, 7, 29, 7, 0)),  # Tue 28 July 15:30: summer
    (utc(2026, 8, 28, 12, 59), True, None),  # Fri 28 Aug 14:59 summer
    (utc(2026, 8, 29, 9, 0), False, utc(2026, 8, 31, 6, 0)),  # Sat 29 Aug -> Mon 31 08:00
    (utc(2026, 8, 31, 16, 0), True, None),  # Mon 31 Aug 18:00 regular
    (utc(2026, 3, 27, 6, 59), False, utc(2026, 3, 27, 7, 0)),  # Fri 07:59 CET
    (utc(2026, 3, 27, 18, 30), False, utc(2026, 3, 30, 6, 0)),  # over the spring DST change
    (utc(2026, 3, 30, 5, 30), False, utc(2026, 3, 30, 6, 0)),  # Mon 07:30 CEST
    (utc(2026, 3, 30, 6, 0), True, None),  # Mon 08:00 CEST
    (utc(2026, 10, 23, 18, 0), False, utc(2026, 10, 26, 7, 0)),  # over the autumn DST change
    (utc(2026, 10, 26, 6, 30), False, utc(2026, 10, 26, 7, 0)),  # Mon 07:30 CET
]


@pytest.mark.parametrize(("at", "expected_open", "expected_next"), PHONE_CASES)
def test_phone_line(at: datetime, expected_open: bool, expected_next: datetime | None) -> None:
    assert is_open(PHONE, at) is expected_open
    assert next_opening(PHONE, at) == (expected_next or at)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 10, 5), [(time(8), time(19))]),
        (date(2026, 10, 4), []),  # Sunday
        (date(2026, 5, 1), [(time(8), time(19))]),
        (date(2026, 5, 2), [(time(9), time(14))]),  # Saturday in season
        (date(2026, 5, 9), [(time(9), time(14))]),
        (date(2026, 5, 11), [(time(9), time(21))]),
        (date(2026, 6, 30), [(time(9), time(21))]),
        (date(2026, 7, 27), [(time(8), time(19))]),
        (date(2026, 7, 28), [(time(9), time(15))]),
        (date(2026, 8, 28), [(time(9), time(15))]),
        (date(2026, 8, 31), [(time(8), time(19))]),
        (date(2026, 3, 29), []),  # DST Sunday
    ],
)
def test_hours_on(day: date, expected: list[tuple[time, time]]) -> None:
    assert hours_on(PHONE, day) == expected


@pytest.mark.parametrize(
    "at",
    [
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 0, 59),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 1, 30),
        utc(2026, 12, 31, 23, 59),
        utc(2027, 1, 1, 0, 0),
    ],
)
def test_revocation_line_is_always_open(at: datetime) -> None:
    assert is_open(REVOCATION, at)
    assert next_opening(REVOCATION, at) == at
    assert hours_on(REVOCATION, at.date()) == [(time(0), time.max)]
    assert line_status(REVOCATION, at).always_open


def test_opening_in_a_skipped_hour_lands_after_the_gap() -> None:
    line = PhoneLineSettings(number="1", hours=["sun 02:30-04:00"], timezone="Europe/Madrid")
    # 29 March 2026: 02:00 CET jumps to 03:00 CEST, so 02:30 never happens.
    assert next_opening(line, utc(2026, 3, 29, 0, 0)) == utc(2026, 3, 29, 1, 30)
    assert is_open(line, utc(2026, 3, 29, 1, 45))
    assert not is_open(line, utc(2026, 3, 29, 2, 0))  # 04:00 CEST


def test_line_status_for_the_acknowledgement() -> None:
    status = line_status(PHONE, utc(2026, 5, 2, 13, 0))  # Saturday 15:00 in Madrid
    assert status.today == date(2026, 5, 2)
    assert status.hours_today == ((time(9), time(14)),)
    assert not status.open_now and not status.always_open
    assert status.next_opening == datetime(2026, 5, 4, 9, 0, tzinfo=MADRID)
    lines = service_lines(CAL, utc(2026, 5, 4, 8, 0))
    assert lines["phone"].open_now and lines["phone"].next_opening is None
    assert lines["revocation"].always_open and lines["revocation"].number == REVOCATION.number


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(PHONE, datetime(2026, 5, 2, 10, 0))  # noqa: DTZ001


def test_a_line_that_never_opens() -> None:
    assert next_opening(PhoneLineSettings(number="1"), utc(2026, 1, 1)) is None


def test_seasons_may_run_over_new_year() -> None:
    season = SeasonSettings(start="12-24", end="01-06", hours=[])
    assert season.covers(1, 3) and season.covers(12, 31) and not season.covers(12, 23)
    line = PhoneLineSettings(number="1", hours=["mon-sun 08:00-20:00"], seasons=[season])
    assert hours_on(line, date(2026, 12, 25)) == [] and hours_on(line, date(2027, 1, 7)) != []


@pytest.mark.parametrize(
    ("spec", "days", "spans"),
    [
        ("mon-fri 08:00-19:00", {0, 1, 2, 3, 4}, ((8 * 3600, 19 * 3600),)),
        ("sat 09:00-14:00", {5}, ((9 * 3600, 14 * 3600),)),
        ("fri-mon 10:00-12:00,16:00-24:00", {4, 5, 6, 0}, ((36000, 43200), (57600, 86400))),
        ("24/7", set(range(7)), ((0, 86400),)),
    ],
)
def test_parse_hours(spec: str, days: set[int], spans: tuple[tuple[int, int], ...]) -> None:
    rule = parse_hours(spec)
    assert rule.days == days and rule.spans == spans


@pytest.mark.parametrize(
    "bad",
    [
        {"phone": {"number": "1", "hours": ["mon-fry 08:00-19:00"]}},
        {"phone": {"number": "1", "hours": ["mon 19:00-08:00"]}},
        {"phone": {"number": "1", "hours": ["mon 08:00-25:00"]}},
        {"phone": {"number": "1", "hours": ["mon 08:00-12:00,11:00-13:00"]}},
        {"phone": {"number": "1", "seasons": [{"start": "13-01", "end": "01-02"}]}},
        {"timezone": "Mars/Olympus"},
        {"phone": {"number": "1", "typo": 1}},
    ],
)
def test_bad_calendar_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CalendarSettings.model_validate(bad)


TOML_SNIPPET = """
[calendar]
timezone = "Europe/Madrid"

[calendar.phone]
number = "+34 900 000 000"
hours = ["mon-fri 08:00-19:00"]

[[calendar.phone.seasons]]
name = "spring"
start = "05-02"
end = "06-30"
hours = ["mon-fri 09:00-21:00", "sat 09:00-14:00"]

[[calendar.phone.seasons]]
name = "summer"
start = "07-28"
end = "08-29"
hours = ["mon-fri 09:00-15:00"]

[calendar.revocation]
number = "+34 900 000 024"
hours = ["24/7"]
"""


def test_the_toml_snippet_equals_the_defaults() -> None:
    data = tomllib.loads(TOML_SNIPPET)["calendar"]
    assert CalendarSettings.model_validate(data) == CalendarSettings()
