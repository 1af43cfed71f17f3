"""A poison message waits in the spool, is retried with backoff and quarantined after three attempts;
oversized mail is never downloaded."""

from functools import partial

from mailer.maildir import MaildirSource, deliver_to_maildir
from mailer.parse import parse_message, policy_from_settings
from tests.mailgen import backlog
from tickets import repository as repo
from tickets.db import read_only
from ventanilla.app import App
from ventanilla.pipeline.intake import Poller, PollLimits
from ventanilla.pipeline.outgoing import OutgoingQueue
from ventanilla.pipeline.process import Ingestor
from ventanilla.wiring import ingest_policy, make_poller

POISON = b"X-Poison: yes"


def poisoned_poller(settings, engine, clock) -> Poller:  # type: ignore[no-untyped-def]
    real = partial(parse_message, policy=policy_from_settings(settings))

    def parse(raw: bytes):  # type: ignore[no-untyped-def]
        if POISON in raw:
            raise RuntimeError("the parser trips on this message every time")
        return real(raw)

    ingestor = Ingestor(engine, parse=parse, queue=OutgoingQueue(settings), policy=ingest_policy(settings),
                        clock=clock, max_attempts=3)
    return Poller(MaildirSource(settings.inbox), ingestor, engine, PollLimits(batch_size=10))


def test_poison_message_is_quarantined_after_three_attempts_and_mail_keeps_flowing(
    make_settings, db_url, engine, clock
) -> None:
    settings = make_settings(db_url=db_url)
    mails = backlog(4, reply_every=100)
    poison = mails[1]["raw"].replace(b"Subject:", POISON + b"\r\nSubject:", 1)
    for raw in (mails[0]["raw"], poison, mails[2]["raw"]):
        deliver_to_maildir(settings.inbox.path, raw)

    first = poisoned_poller(settings, engine, clock).run_once()
    assert first.spooled == 3 and first.processed == 2 and first.actions.get("error") == 1  # none held back
    assert poisoned_poller(settings, engine, clock).run_once().seen == 0, "spooled mail leaves the inbox"
    deliver_to_maildir(settings.inbox.path, mails[3]["raw"])
    second = poisoned_poller(settings, engine, clock).run_once()
    assert second.processed == 1 and "error" not in second.actions, "the failed one waits for its retry time"
    clock.advance(minutes=1)
    third = poisoned_poller(settings, engine, clock).run_once()
    assert third.actions == {"error": 1}
    clock.advance(minutes=2)
    fourth = poisoned_poller(settings, engine, clock).run_once()
    assert fourth.quarantined == 1

    with read_only(engine) as session:
        quarantined = repo.quarantined(session)
        tickets = repo.list_tickets(session)
    assert len(tickets) == 3
    assert len(quarantined) == 1 and quarantined[0].reason.startswith("poison: RuntimeError")
    assert quarantined[0].attempts == 3
    with read_only(engine) as session:
        assert POISON in (repo.get_blob(session, quarantined[0].raw_sha256) or b"")
    clock.advance(hours=5)
    assert poisoned_poller(settings, engine, clock).run_once().actions == {}, "quarantine is final until released"


def test_oversized_message_is_quarantined_without_download(make_settings, db_url, engine, clock) -> None:
    settings = make_settings(db_url=db_url)
    settings = settings.model_copy(update={"limits": settings.limits.model_copy(update={"max_message_bytes": 5000})})
    big = backlog(1)[0]["raw"].replace(b"Hola,", b"Hola," + b"x" * 6000, 1)
    deliver_to_maildir(settings.inbox.path, big)
    stats = make_poller(App(settings, engine, clock)).run_once()
    assert stats.quarantined == 1
    with read_only(engine) as session:
        (row,) = repo.quarantined(session)
    assert row.reason.startswith("too large") and row.size > 5000
