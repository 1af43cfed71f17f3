"""A message that fails halfway through its writes, inside a batch: it alone is rolled back.

The batch is first stored without savepoints; the failure rolls that whole transaction back and
the batch is stored again one savepoint per message. Nothing of the first pass may survive.
"""


from sqlalchemy import func, select

from mailer.inbound import Arrival, Ingestor
from mailer.outgoing import OutgoingQueue
from mailer.parse import parse_message, policy_from_settings
from tests.mailgen import backlog
from tickets.db import read_only
from tickets.models import Event, Message, Outbox, Participant, Receipt, Ticket
from tickets.values import ReceiptKey
from ventanilla.wiring import ingest_policy


def test_a_failure_after_some_writes_rolls_back_only_that_message(make_settings, db_url, engine, clock) -> None:
    settings = make_settings(db_url=db_url)
    real_queue = OutgoingQueue(settings)
    mails = backlog(6, reply_every=100)
    victim = mails[3]["sender"]
    calls: list[str] = []

    def queue(session, intent, now):  # type: ignore[no-untyped-def]
        calls.append(intent.to[0])
        if intent.to == (victim,):  # after its ticket, participant, event and receipt checks were written
            raise RuntimeError("template engine exploded")
        real_queue(session, intent, now)

    ingestor = Ingestor(
        engine,
        parse=lambda raw: parse_message(raw, policy=policy_from_settings(settings)),
        queue=queue,
        policy=ingest_policy(settings),
        clock=clock,
    )
    arrivals = [
        Arrival(key=ReceiptKey(mailbox="INBOX", uidvalidity=1, uid=i + 1), raw=m["raw"], arrived_at=clock.now())
        for i, m in enumerate(mails)
    ]
    results = ingestor.process_batch(arrivals)

    assert [r.action for r in results] == ["ticketed"] * 3 + ["error"] + ["ticketed"] * 2
    assert calls.count(victim) == 2  # the straight pass, then the careful one
    with read_only(engine) as session:
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        # Each ticket: its requester; the mail in; the ack and a notice to each of the two agents out.
        assert count(Ticket) == 5 and count(Receipt) == 5 and count(Outbox) == 15
        assert count(Participant) == 5 and count(Message) == 20
        assert session.scalar(select(func.count()).select_from(Outbox).where(Outbox.recipients == victim)) == 0
        assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.requester_email == victim)) == 0
        assert session.scalar(select(func.count()).select_from(Event).where(Event.actor == victim)) == 0
        assert sorted(session.scalars(select(Receipt.uid))) == [1, 2, 3, 5, 6]

    clock.advance(minutes=1)
    again = ingestor.process_batch([arrivals[3]])  # a later attempt, the fault gone
    assert again[0].action == "error"  # still failing: counted as one more attempt, nothing written
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 5
    ingestor.close()
