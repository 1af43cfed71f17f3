"""Retention works on ids in bounded IN lists (tickets.retention.blobs.chunks)."""

from tickets.retention.blobs import CHUNK, chunks


def test_ids_come_once_each_in_order_in_lists_of_at_most_the_size() -> None:
    assert list(chunks([3, 1, 3, 2, 1, 4], 2)) == [[3, 1], [2, 4]]
    assert list(chunks(range(CHUNK + 1))) == [list(range(CHUNK)), [CHUNK]]
    assert list(chunks([])) == []
