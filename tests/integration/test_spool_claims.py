"""The spool's bookkeeping on SQLite and PostgreSQL: receipts written once, claimed once, retried
with backoff, given back without blame, released after a fix."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from tickets.db import unit_of_work
from tickets.ingest import spool
from tickets.ingest.spool import Incoming, ReceiptStatus
from tickets.models import Receipt

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)
ME, OTHER = "host-a:100", "host-b:200"


def _alive(_owner: str) -> bool:
    return False


def put(engine, uids, *, holder: str = "", now: datetime = NOW):  # type: ignore[no-untyped-def]
    messages = [
        Incoming(uid=u, raw=f"Message-ID: <m{u}@x>\r\n\r\nbody {u}".encode(), arrived_at=now, size=20) for u in uids
    ]
    with unit_of_work(engine) as session:
        return spool.spool(
            session, mailbox="INBOX", uidvalidity=7, messages=messages, now=now, holder=holder, lease=LEASE
        )


def claim(engine, holder: str, now: datetime, limit: int = 10, is_dead=_alive):  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        return spool.claim_due(session, now=now, holder=holder, lease=LEASE, limit=limit, is_dead=is_dead)


def receipt(engine, uid: int) -> Receipt:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        return session.scalars(select(Receipt).where(Receipt.uid == uid)).one()


def test_a_key_is_spooled_once_and_keeps_its_first_bytes(engine) -> None:
    first = put(engine, [1, 2])
    again = put(engine, [2, 3])
    assert [r.fresh for r in first] == [True, True] and [r.fresh for r in again] == [False, True]
    assert again[0].id == first[1].id and again[0].raw == first[1].raw
    assert receipt(engine, 1).message_id == "<m1@x>" and receipt(engine, 1).status == "received"


def test_claims_take_waiting_receipts_oldest_first_with_their_bytes_and_count_an_attempt(engine) -> None:
    put(engine, [5, 3, 9])
    taken = claim(engine, ME, NOW, limit=2)
    assert [r.key.uid for r in taken] == [5, 3] and [r.attempts for r in taken] == [1, 1]
    assert taken[0].raw.startswith(b"Message-ID: <m5@x>")
    assert [r.key.uid for r in claim(engine, OTHER, NOW)] == [9], "another worker skips what is claimed"
    assert claim(engine, "host-c:300", NOW + LEASE - timedelta(seconds=1)) == []
    assert [r.key.uid for r in claim(engine, "host-c:300", NOW + LEASE)] == [5, 3, 9], "an expired claim is free"


def test_a_dead_holder_on_this_host_gives_up_its_claims_at_once(engine) -> None:
    put(engine, [1], holder=ME)  # spooled and claimed by a worker that was then killed
    assert claim(engine, OTHER, NOW) == []
    taken = claim(engine, OTHER, NOW, is_dead=lambda owner: owner == ME)
    assert [(r.key.uid, r.attempts) for r in taken] == [(1, 2)]  # the crash counts: poison detection


def test_a_failure_waits_for_its_backoff_and_a_give_back_blames_nothing(engine) -> None:
    put(engine, [1, 2])
    one, two = claim(engine, ME, NOW)
    with unit_of_work(engine) as session:
        spool.record_failure(session, one.id, attempts=one.attempts, reason="boom", now=NOW)
    with unit_of_work(engine) as session:
        spool.give_back(session.connection(), [two.id], holder=ME)
    assert receipt(engine, 2).attempts == 0 and receipt(engine, 2).status == "received"
    assert [r.key.uid for r in claim(engine, ME, NOW)] == [2]
    assert receipt(engine, 1).status == "failed" and receipt(engine, 1).reason == "boom"
    assert claim(engine, ME, NOW + timedelta(seconds=59)) == []
    assert [(r.key.uid, r.attempts) for r in claim(engine, ME, NOW + timedelta(minutes=1))] == [(1, 2)]


def test_decided_receipts_are_never_claimed_and_release_brings_one_back(engine) -> None:
    put(engine, [1, 2, 3])
    one, two, three = claim(engine, ME, NOW)
    with unit_of_work(engine) as session:
        spool.record_outcome(session, one.id, status=ReceiptStatus.TICKETED, ticket_id=None)
        spool.record_outcome(session, two.id, status=ReceiptStatus.QUARANTINED, reason="poison")
        spool.record_outcome(session, three.id, status=ReceiptStatus.IGNORED, reason="auto-reply")
    assert claim(engine, ME, NOW + timedelta(days=1)) == []
    with unit_of_work(engine) as session:
        released = spool.release(session, [one.id, two.id, three.id], now=NOW)
    assert released == [two.id], "only quarantined or failed receipts can be released"
    assert [(r.key.uid, r.attempts) for r in claim(engine, ME, NOW)] == [(2, 1)]


@pytest.mark.parametrize(
    ("attempts", "after"),
    [(1, timedelta(minutes=1)), (2, timedelta(minutes=2)), (4, timedelta(minutes=8)), (30, timedelta(hours=1))],
)
def test_retry_times_double_up_to_an_hour(attempts: int, after: timedelta) -> None:
    assert spool.retry_at(attempts, NOW) == NOW + after


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        (b"From: a@b\r\nMessage-ID: <x@y>\r\n\r\nbody", "<x@y>"),
        (b"message-id:\r\n  <folded@y>\r\nSubject: s\r\n\r\n", "<folded@y>"),
        (b"Subject: s\r\n\r\nMessage-ID: <in-body@y>\r\n", ""),
        (b"Subject: no id\n\nbody", ""),
        (b"", ""),
    ],
)
def test_sniff_message_id_reads_the_header_only(raw: bytes, found: str) -> None:
    assert spool.sniff_message_id(raw) == found


def test_two_workers_claiming_at_once_never_take_the_same_receipt(engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent claims need row locks (PostgreSQL); SQLite serialises writers")
    put(engine, range(1, 21))
    with Session(engine) as first_worker:  # its claim is not committed while the other claims
        first = spool.claim_due(first_worker, now=NOW, holder=ME, lease=LEASE, limit=8, is_dead=_alive)
        second = claim(engine, OTHER, NOW, limit=20)
        first_worker.commit()
    first_uids, second_uids = {r.key.uid for r in first}, {r.key.uid for r in second}
    assert len(first_uids) == 8 and not first_uids & second_uids and len(first_uids | second_uids) == 20
