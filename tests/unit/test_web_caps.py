"""When a capped client may submit again (the 429's Retry-After): pure rules."""

from datetime import UTC, datetime, timedelta

import pytest

from tickets.web.caps import WINDOW, retry_after_seconds, slot_frees_at

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def at(*minutes: float) -> list[datetime]:
    return [T0 + timedelta(minutes=m) for m in minutes]


@pytest.mark.parametrize(
    ("times", "cap", "frees"),
    [
        (at(), 3, None),  # nothing counted
        (at(0, 10), 3, None),  # under the cap: a slot is free now
        (at(0, 10, 20), 3, T0 + WINDOW),  # the oldest leaving frees one
        (at(20, 0, 10), 3, T0 + WINDOW),  # in any order
        (at(0, 10, 20, 30), 3, T0 + timedelta(minutes=10) + WINDOW),  # over the cap (lowered): two must leave
        (at(5, 5, 5), 2, T0 + timedelta(minutes=5) + WINDOW),  # ties leave together
    ],
)
def test_a_slot_frees_when_enough_submissions_leave_the_window(
    times: list[datetime], cap: int, frees: datetime | None
) -> None:
    assert slot_frees_at(times, cap) == frees


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(3599.2, 3600), (3600, 3600), (0.4, 1), (0, 1), (-3, 1)],
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(seconds: float, expected: int) -> None:
    assert retry_after_seconds(T0 + timedelta(seconds=seconds), T0) == expected
