"""Several workers on one mailbox: the poller lease, the workers' presence and the hand-off of
mail to the spool (issue 15). Two MailboxLoops share one database and one Maildir; the time is a
FakeClock, so a lease runs out when the test says so (as when its holder on another host died)."""

from datetime import timedelta

from mailer.maildir import MaildirSource, deliver_to_maildir
from tests.mailgen import backlog
from tickets import repository as repo
from tickets.db import read_only, unit_of_work
from tickets.ingest import mailbox, presence
from tickets.ingest.spool import Incoming
from ventanilla.app import App
from ventanilla.wiring import make_poller
from ventanilla.worker import MailboxLoop


def test_the_lease_is_held_until_it_runs_out_or_its_holder_is_dead(engine, clock) -> None:
    now, lease = clock.now(), timedelta(seconds=30)

    def take(owner: str, at: timedelta, is_dead=lambda _o: False) -> bool:  # type: ignore[no-untyped-def]
        with unit_of_work(engine) as session:
            return mailbox.take_lease(session, "support", owner, now + at, now + at + lease, is_dead=is_dead)

    assert take("a", timedelta(0))
    assert not take("b", timedelta(seconds=29)), "held while it has not run out"
    assert take("a", timedelta(seconds=29)), "renewed by its holder"
    assert take("b", timedelta(seconds=60)), "taken over once it ran out"
    assert not take("a", timedelta(seconds=61)), "the old holder lost it"
    assert take("c", timedelta(seconds=62), is_dead=lambda owner: owner == "b"), "a dead holder's: at once"


def test_presence_counts_the_other_live_workers(engine, clock) -> None:
    now = clock.now()
    with unit_of_work(engine) as session:
        presence.announce(session, holder="a", mailbox="support", until=now + timedelta(seconds=30))
        presence.announce(session, holder="b", mailbox="support", until=now + timedelta(seconds=10))
        presence.announce(session, holder="a", mailbox="support", until=now + timedelta(seconds=40))  # again
        presence.announce(session, holder="x", mailbox="other", until=now + timedelta(seconds=30))
    with read_only(engine) as session:
        assert presence.peers(session, holder="a", mailbox="support", now=now) == 1
        assert presence.peers(session, holder="a", mailbox="support", now=now + timedelta(seconds=11)) == 0
        assert presence.peers(session, holder="b", mailbox="support", now=now + timedelta(seconds=35)) == 1
    with unit_of_work(engine) as session:
        presence.leave(session, holder="b", now=now)
    with read_only(engine) as session:
        assert presence.peers(session, holder="a", mailbox="support", now=now) == 0


def _loop(settings, engine, clock, owner: str) -> MailboxLoop:  # type: ignore[no-untyped-def]
    poller = make_poller(App(settings, engine, clock), MaildirSource(settings.inbox))
    loop = MailboxLoop(poller, engine, clock, settings)
    loop._owner = owner  # two workers in one process: named apart
    poller.ingestor._holder = owner
    return loop


async def test_one_worker_reads_the_mailbox_the_other_takes_from_the_spool_and_over(
    make_settings, db_url, engine, clock
) -> None:
    settings = make_settings(db_url=db_url)
    mails = backlog(6, reply_every=100)
    for mail in mails[:3]:
        deliver_to_maildir(settings.inbox.path, mail["raw"])
    first, second = _loop(settings, engine, clock, "host:1:1"), _loop(settings, engine, clock, "host:2:2")

    assert (await first.run_once()).processed == 3 and first.holding and first.peers == 0
    assert (await second.run_once()).seen == 0 and not second.holding, "the other never reads the mailbox"
    assert first._lease() and first.peers == 1, "the holder knows another worker is alive"

    # Mail in the spool (the MTA pipe, or the holder's hand-off) is taken by whoever claims it.
    incoming = [
        Incoming(uid=900 + i, raw=m["raw"], arrived_at=clock.now(), size=len(m["raw"]))
        for i, m in enumerate(mails[3:5])
    ]
    first._poller.ingestor.receive("pipe", 0, incoming, claim=False)
    assert (await second.run_once()).processed == 2 and not second.holding

    # The holder stops renewing (another host: no pid to look at): the other takes over in time.
    clock.advance(seconds=settings.inbox.lease_seconds + 1)
    deliver_to_maildir(settings.inbox.path, mails[5]["raw"])
    assert (await second.run_once()).processed == 1 and second.holding
    clock.advance(seconds=1)
    assert (await first.run_once()).seen == 0 and not first.holding
    with read_only(engine) as session:
        assert len(repo.list_tickets(session)) == 6
        assert repo.count_receipts(session) == {"ticketed": 6}
    first.close_source()
    second.close_source()
