"""SLA arithmetic: thresholds on the calendar and business clocks (weekend, holiday, season, DST)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from config.calendar import SeasonSettings
from config.sla import BusinessHoursSettings, PrioritySla, SlaSettings
from tickets.sla.policy import THRESHOLDS, BusinessClock, SlaPolicy, Targets, display_hours, is_answered

MADRID = ZoneInfo("Europe/Madrid")
SPRING = SeasonSettings(name="spring", start="05-02", end="06-30", hours=["mon-fri 09:00-21:00", "sat 09:00-14:00"])


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=MADRID)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def policy(clock: str = "calendar", **business: object) -> SlaPolicy:
    return SlaPolicy.from_settings(SlaSettings(clock=clock, business=BusinessHoursSettings(**business)))  # type: ignore[arg-type]


def fire_times(p: SlaPolicy, start: datetime, priority: str = "normal") -> dict[str, datetime]:
    return {t.key: t.at for t in p.thresholds(priority, start)}


def test_calendar_thresholds_default_24_48_with_4h_warnings() -> None:
    start = utc(2026, 10, 5, 8)
    assert fire_times(policy(), start) == {
        "warn-24h": start + timedelta(hours=20),
        "breach-24h": start + timedelta(hours=24),
        "warn-48h": start + timedelta(hours=44),
        "breach-48h": start + timedelta(hours=48),
    }


def test_urgent_defaults_to_4h_and_8h() -> None:
    start = utc(2026, 10, 5, 8)
    times = fire_times(policy(), start, "urgent")
    assert [times[k] - start for k in THRESHOLDS] == [timedelta(hours=h) for h in (3, 4, 7, 8)]


def test_warning_as_a_share_of_the_target() -> None:
    p = SlaPolicy.from_settings(SlaSettings(default=PrioritySla(warn_before_share=0.25)))
    start = utc(2026, 10, 5, 8)
    times = fire_times(p, start)
    assert times["warn-24h"] - start == timedelta(hours=18)
    assert times["warn-48h"] - start == timedelta(hours=36)


def test_calendar_clock_counts_real_hours_across_the_dst_change() -> None:
    start = local(2026, 10, 24, 10)  # Saturday, CEST; clocks go back on Sunday 25 at 03:00
    times = fire_times(policy(), start)
    assert times["breach-24h"] == utc(2026, 10, 25, 8)
    assert times["breach-24h"].astimezone(MADRID).hour == 9  # one wall hour later: the extra hour counted


@pytest.mark.parametrize(
    ("scenario", "start", "expected"),
    [
        (  # Friday 17:00; weekend; Monday 12 October is a national holiday
            "weekend+holiday",
            local(2026, 10, 9, 17),
            [local(2026, 10, 14, 15), local(2026, 10, 14, 19), local(2026, 10, 16, 17), local(2026, 10, 19, 10)],
        ),
        (  # Friday 18:00 CEST; Monday is CET: opening hours stay 08:00-19:00 local
            "dst",
            local(2026, 10, 23, 18),
            [local(2026, 10, 27, 16), local(2026, 10, 28, 9), local(2026, 10, 29, 18), local(2026, 10, 30, 11)],
        ),
        (  # Thursday 30 April 17:00; 1 May and 2 May holidays; from 2 May the spring hours 09:00-21:00
            "season",
            local(2026, 4, 30, 17),
            [local(2026, 5, 5, 15), local(2026, 5, 5, 19), local(2026, 5, 7, 15), local(2026, 5, 7, 19)],
        ),
        (  # Friday 8 May 20:00 in spring: Saturday 09:00-14:00 counts
            "season-saturday",
            local(2026, 5, 8, 20),
            [local(2026, 5, 12, 11), local(2026, 5, 12, 15), local(2026, 5, 14, 11), local(2026, 5, 14, 15)],
        ),
    ],
)
def test_business_clock_thresholds(scenario: str, start: datetime, expected: list[datetime]) -> None:
    p = policy("business", seasons=[SPRING])
    times = fire_times(p, start)
    assert [times[k] for k in THRESHOLDS] == expected, scenario


def test_business_clock_elapsed_skips_closed_time() -> None:
    clock = BusinessClock(BusinessHoursSettings(), MADRID)
    assert clock.elapsed(local(2026, 10, 9, 17), local(2026, 10, 13, 10)) == pytest.approx(4.0)
    assert clock.elapsed(local(2026, 10, 13, 10), local(2026, 10, 9, 17)) == 0.0


def test_extra_closed_days_and_no_holidays() -> None:
    clock = BusinessClock(BusinessHoursSettings(holidays_country="", extra_closed_days=["2026-10-13"]), MADRID)
    assert clock.open_spans(local(2026, 10, 12, 0).date())  # the national holiday is open without a country
    assert clock.open_spans(local(2026, 10, 13, 0).date()) == ()


@pytest.mark.parametrize("clock", ["calendar", "business"])
def test_horizon_covers_every_ticket_whose_first_warning_fired(clock: str) -> None:
    p = policy(clock, seasons=[SPRING])
    now = local(2026, 10, 13, 9)
    for hours_ago in range(0, 24 * 10, 1):
        start = now - timedelta(hours=hours_ago)
        for priority in ("normal", "urgent"):
            warn = p.thresholds(priority, start)[0].at
            due = p.cycle(priority, number=1, start=start).response_due_at
            if warn <= now:
                assert due <= p.horizon(now), (start, priority)


def test_is_answered_per_cycle() -> None:
    start = utc(2026, 10, 5, 8)
    assert is_answered(status="pending", cycle_started_at=start, first_answered_at=None)
    assert is_answered(status="open", cycle_started_at=start, first_answered_at=start + timedelta(hours=1))
    assert not is_answered(status="open", cycle_started_at=start, first_answered_at=start - timedelta(hours=1))
    assert not is_answered(status="escalated", cycle_started_at=start, first_answered_at=None)


def test_targets_from_settings() -> None:
    t = Targets.from_settings(PrioritySla(response_hours=4, hard_hours=8, warn_before_hours=1))
    assert (t.warn_response_hours, t.warn_hard_hours, t.max_lead_hours) == (3, 7, 1)


@pytest.mark.parametrize(
    "bad",
    [
        {"clock": "wall"},
        {"default": {"response_hours": 48, "hard_hours": 24}},
        {"default": {"warn_before_hours": 30}},
        {"default": {"bogus": 1}},
        {"business": {"hours": ["mon-fri 19:00-08:00"]}},
    ],
)
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SlaSettings(**bad)  # type: ignore[arg-type]


# -- the one source of due times: SlaPolicy.cycle -------------------------------------------------

FRIDAY_EVENING = local(2026, 10, 2, 18, 30)  # Friday


CALENDAR, BUSINESS = policy("calendar"), policy("business")
CYCLES = {  # name: (policy, priority, start, response due, hard due)
    "calendar, default": (CALENDAR, "normal", utc(2026, 10, 5, 8), utc(2026, 10, 6, 8), utc(2026, 10, 7, 8)),
    "from arrival": (CALENDAR, "normal", utc(2026, 10, 5, 23, 30), utc(2026, 10, 6, 23, 30), utc(2026, 10, 7, 23, 30)),
    "calendar, urgent": (CALENDAR, "urgent", utc(2026, 10, 5, 8), utc(2026, 10, 5, 12), utc(2026, 10, 5, 16)),
    "no targets of its own": (CALENDAR, "high", utc(2026, 10, 5, 8), utc(2026, 10, 6, 8), utc(2026, 10, 7, 8)),
    "calendar, DST ends": (CALENDAR, "normal", local(2026, 10, 24, 10), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)),
    # 30 min on Friday (open until 19:00), the rest from Monday 08:00
    "business, Friday": (BUSINESS, "urgent", FRIDAY_EVENING, local(2026, 10, 5, 11, 30), local(2026, 10, 5, 15, 30)),
    "business, default": (BUSINESS, "normal", FRIDAY_EVENING, local(2026, 10, 7, 9, 30), local(2026, 10, 9, 11, 30)),
    # Monday 12 October is a national holiday
    "business, holiday": (BUSINESS, "urgent", local(2026, 10, 9, 17), local(2026, 10, 13, 10), local(2026, 10, 13, 14)),
    "business, at night": (BUSINESS, "urgent", local(2026, 10, 6, 6), local(2026, 10, 6, 12), local(2026, 10, 6, 16)),
}


@pytest.mark.parametrize("case", CYCLES)
def test_cycle_due_times(case: str) -> None:
    sla, priority, start, response_due, hard_due = CYCLES[case]
    cycle = sla.cycle(priority, number=3, start=start)
    assert (cycle.number, cycle.started_at) == (3, start)
    assert (cycle.response_due_at, cycle.hard_due_at) == (response_due, hard_due)


def test_cycle_columns_are_what_a_ticket_stores() -> None:
    cycle = policy().cycle("urgent", number=1, start=utc(2026, 10, 5, 8))
    assert cycle.columns() == {
        "cycle": 1,
        "cycle_started_at": utc(2026, 10, 5, 8),
        "response_due_at": utc(2026, 10, 5, 12),
        "hard_due_at": utc(2026, 10, 5, 16),
    }


@pytest.mark.parametrize(("hours", "shown"), [(24.0, 24), (4.0, 4), (1.5, 1.5), (0.25, 0.25)])
def test_whole_hours_are_shown_without_a_decimal(hours: float, shown: float) -> None:
    value = display_hours(hours)
    assert value == shown and str(value) == str(shown)


def test_promise_is_the_response_target_in_the_service_zone() -> None:
    p = SlaPolicy.from_settings(SlaSettings(clock="business"), "Europe/Madrid")
    promise = p.promise("urgent", response_due=utc(2026, 10, 5, 9, 30))
    assert (promise.hours, promise.working_hours) == (4, True)
    assert promise.due_at == local(2026, 10, 5, 11, 30) and promise.due_at.tzinfo == MADRID
