"""The whole inbound pipeline against a real Dovecot and a real database (invariant 1)."""

import asyncio
import time

import pytest
from sqlalchemy import func, select

from tests.dbhelpers import inbound_by_message_id
from tests.mailgen import append_all, backlog
from tickets.db import read_only
from tickets.models import Receipt, Ticket
from ventanilla.app import App
from ventanilla.wiring import make_poller
from ventanilla.worker import MailboxLoop


def count(engine, model) -> int:  # type: ignore[no-untyped-def]
    with read_only(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def run_poller(settings, engine, clock):  # type: ignore[no-untyped-def]
    poller = make_poller(App(settings, engine, clock))
    try:
        return poller.run_once()
    finally:
        poller.source.close()


def test_backlog_with_replies_lands_exactly_once_on_the_right_ticket(
    dovecot, imap_settings, make_settings, db_url, engine, clock
) -> None:
    mails = backlog(1000, reply_every=5)
    with dovecot.imap_client() as client:
        append_all(client, "INBOX", mails)
    settings = make_settings(db_url=db_url, inbox=imap_settings(batch_size=200))

    stats = run_poller(settings, engine, clock)

    assert stats.processed == 1000
    found = inbound_by_message_id(engine)
    assert {m["message_id"] for m in mails} == set(found)
    assert all(len(tickets) == 1 for tickets in found.values())
    for mail in mails:
        if mail["parent"] is not None:
            parent = mails[mail["parent"]]
            assert found[mail["message_id"]] == found[parent["message_id"]]
    assert count(engine, Ticket) == sum(1 for m in mails if m["parent"] is None)
    assert dovecot.uids("INBOX") == [] and len(dovecot.uids("Processed")) == 1000

    again = run_poller(settings, engine, clock)
    assert (again.seen, again.processed) == (0, 0)
    assert count(engine, Receipt) == 1000 and inbound_by_message_id(engine) == found


def test_flag_only_mode_selects_by_uid_not_unseen(dovecot, imap_settings, make_settings, db_url, engine, clock) -> None:
    mails = backlog(6, reply_every=100)
    with dovecot.imap_client() as client:
        append_all(client, "INBOX", mails[:3])
    settings = make_settings(db_url=db_url, inbox=imap_settings(processed_folder=""))
    assert run_poller(settings, engine, clock).processed == 3
    with dovecot.imap_client() as client:
        append_all(client, "INBOX", mails[3:])
    # Another client reads one of the new messages before we do: it must still be taken.
    dovecot.add_flags("INBOX", [dovecot.uids("INBOX")[3]], ["\\Seen"])
    assert run_poller(settings, engine, clock).processed == 3
    assert count(engine, Ticket) == 6
    assert all("\\Seen" in dovecot.flags("INBOX", uid) for uid in dovecot.uids("INBOX"))
    assert run_poller(settings, engine, clock).processed == 0


def test_new_uidvalidity_loses_nothing_and_doubles_nothing(
    dovecot, imap_settings, make_settings, db_url, engine, clock
) -> None:
    mails = backlog(8, reply_every=100)
    with dovecot.imap_client() as client:
        append_all(client, "Support", mails[:5])
    settings = make_settings(db_url=db_url, inbox=imap_settings(folder="Support"))
    assert run_poller(settings, engine, clock).processed == 5

    # The server rebuilds the folder: new UIDVALIDITY, the old mail comes back with new UIDs.
    dovecot.recreate_folder("Support")
    with dovecot.imap_client() as client:
        append_all(client, "Support", mails)
    stats = run_poller(settings, engine, clock)

    assert stats.processed == 8
    assert stats.actions == {"duplicate": 5, "ticketed": 3}
    assert count(engine, Ticket) == 8
    assert all(len(t) == 1 for t in inbound_by_message_id(engine).values())
    assert dovecot.uids("Support") == []


def test_message_expunged_by_another_client_is_no_phantom(dovecot, imap_settings, make_settings, db_url, engine, clock):
    mails = backlog(3, reply_every=100)
    with dovecot.imap_client() as client:
        append_all(client, "INBOX", mails)
    settings = make_settings(db_url=db_url, inbox=imap_settings())
    poller = make_poller(App(settings, engine, clock))
    poller.source.open()
    state = poller.source.scan(after_uid=0)
    dovecot.expunge("INBOX", [state.uids[1]])
    stats = poller.run_once()
    poller.source.close()
    assert stats.processed == 2 and count(engine, Ticket) == 2


async def test_worker_reconnects_after_dovecot_restart(
    dovecot, imap_settings, make_settings, db_url, engine, clock
) -> None:
    mails = backlog(6, reply_every=100)
    settings = make_settings(db_url=db_url, inbox=imap_settings(poll_seconds=0.3, idle=True))
    loop = MailboxLoop(make_poller(App(settings, engine, clock)), engine, clock, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        with dovecot.imap_client() as client:
            append_all(client, "INBOX", mails[:3])
        await wait_for(lambda: count(engine, Receipt) == 3, seconds=15)
        dovecot.stop()
        await asyncio.sleep(1.5)
        dovecot.start()
        with dovecot.imap_client() as client:
            append_all(client, "INBOX", mails[3:])
        await wait_for(lambda: count(engine, Receipt) == 6, seconds=30)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
    assert count(engine, Ticket) == 6
    assert dovecot.uids("INBOX") == []


async def wait_for(condition, *, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {seconds} s")
        await asyncio.sleep(0.1)


