"""Several workers claim the spool side by side: a reply claimed while the message it answers still
waits in the spool elsewhere is handed back (tickets/ingest/order.py), on SQLite and PostgreSQL."""

from datetime import timedelta

from tests.mailgen import backlog
from tickets.db import read_only, unit_of_work
from tickets.ingest import order, spool
from tickets.ingest.sniff import sniff_references
from tickets.ingest.spool import Incoming, ReceiptStatus
from tickets.models import Receipt


def test_a_reply_waits_while_the_message_it_answers_waits_elsewhere(engine, clock) -> None:
    mails = backlog(3, reply_every=2)  # the third answers the second
    parent, reply = mails[1], mails[2]
    assert reply["parent"] == 1 and set(sniff_references(reply["raw"])) == {parent["message_id"]}
    with unit_of_work(engine) as session:
        incoming = [
            Incoming(uid=i + 1, raw=m["raw"], arrived_at=clock.now(), size=len(m["raw"])) for i, m in enumerate(mails)
        ]
        spooled = spool.spool(
            session, mailbox="support", uidvalidity=1, messages=incoming, now=clock.now(), holder="", lease=timedelta(0)
        )
    _, first, second = spooled
    with read_only(engine) as session:
        assert order.early_replies(session, [second]) == [second.id], "its message waits in another claim"
        assert order.early_replies(session, [first, second]) == [], "the same claim takes them in order"
        assert order.early_replies(session, [first]) == []

    with unit_of_work(engine) as session:
        order.hold_back(session, [second.id], holder="", retry_at=clock.now() + timedelta(seconds=1))
        spool.record_outcome(session, first.id, status=ReceiptStatus.TICKETED, now=clock.now())
    with read_only(engine) as session:
        assert order.early_replies(session, [second]) == [], "its message was processed: it goes on"
        assert session.get(Receipt, second.id).next_attempt_at is not None  # type: ignore[union-attr]
