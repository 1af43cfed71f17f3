"""Intake's batches: bounded by count and by bytes, so memory is bounded whatever the mix."""

import pytest

from ventanilla.pipeline.intake import PollLimits, plan_batches

MB = 1024 * 1024
LIMITS = PollLimits(batch_size=3, batch_bytes=40 * MB, max_bytes=25 * MB)


@pytest.mark.parametrize(
    ("sizes", "batches"),
    [
        ({}, []),
        ({1: 10, 2: 10, 3: 10, 4: 10}, [[1, 2, 3], [4]]),  # by count
        ({1: 20 * MB, 2: 20 * MB, 3: 20 * MB, 4: 20 * MB, 5: 20 * MB, 6: 20 * MB}, [[1, 2], [3, 4], [5, 6]]),
        ({1: 20 * MB, 2: 20 * MB, 3: 1}, [[1, 2], [3]]),  # exactly at the cap fits
        ({1: 24 * MB, 2: 30 * MB, 3: 1 * MB}, [[1, 2, 3]]),  # 2 is over max_bytes: not downloaded, weighs 0
        ({1: 10, 3: 10}, [[1, 3]]),  # 2 vanished since the scan
    ],
)
def test_batches_are_bounded_by_count_and_bytes(sizes: dict[int, int], batches: list[list[int]]) -> None:
    assert plan_batches([1, 2, 3, 4, 5, 6], sizes, LIMITS) == batches


def test_a_message_larger_than_a_batch_goes_alone() -> None:
    limits = PollLimits(batch_size=100, batch_bytes=10 * MB, max_bytes=25 * MB)
    assert plan_batches([1, 2, 3], {1: MB, 2: 20 * MB, 3: MB}, limits) == [[1], [2], [3]]
