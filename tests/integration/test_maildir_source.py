"""The Maildir source with no processed folder: committed mail is flagged Seen and left in place,
and flags never decide what is new (another client may have read a message before we took it)."""

from functools import partial

from config.settings import InboxSettings
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


def test_without_a_processed_folder_seen_mail_is_not_taken_again(
    make_settings, db_url, engine, clock, tmp_path
) -> None:
    inbox = InboxSettings(kind="maildir", path=str(tmp_path / "maildir"), processed_folder="")
    settings = make_settings(db_url=db_url, inbox=inbox)
    mails = backlog(3, reply_every=100)
    for mail in mails[:2]:
        deliver_to_maildir(inbox.path, mail["raw"])

    first = make_poller(App(settings, engine, clock), MaildirSource(inbox)).run_once()
    assert first.seen == 2 and first.processed == 2
    files = sorted(p.name for p in (tmp_path / "maildir" / "cur").iterdir())
    assert len(files) == 2 and all(name.endswith(":2,S") for name in files)  # flagged, still in the inbox

    deliver_to_maildir(inbox.path, mails[2]["raw"])
    second = make_poller(App(settings, engine, clock), MaildirSource(inbox)).run_once()
    assert second.processed == 1 and second.leftovers == 2  # only the new one is taken
    with read_only(engine) as session:
        assert len(repo.list_tickets(session)) == 3


def test_without_a_processed_folder_mail_read_elsewhere_first_is_still_taken(
    make_settings, db_url, engine, clock, tmp_path
) -> None:
    inbox = InboxSettings(kind="maildir", path=str(tmp_path / "maildir"), processed_folder="")
    settings = make_settings(db_url=db_url, inbox=inbox)
    mail = backlog(1)[0]
    key = deliver_to_maildir(inbox.path, mail["raw"])
    new = tmp_path / "maildir" / "new" / key
    new.rename(tmp_path / "maildir" / "cur" / f"{key}:2,S")  # read in webmail before the worker ran

    stats = make_poller(App(settings, engine, clock), MaildirSource(inbox)).run_once()
    assert stats.processed == 1
    with read_only(engine) as session:
        (ticket,) = repo.list_tickets(session)
    assert ticket.requester_email == mail["sender"]


def test_without_a_processed_folder_a_failed_message_read_elsewhere_is_still_retried(
    make_settings, db_url, engine, clock, tmp_path
) -> None:
    inbox = InboxSettings(kind="maildir", path=str(tmp_path / "maildir"), processed_folder="")
    settings = make_settings(db_url=db_url, inbox=inbox)
    mail = backlog(1)[0]
    deliver_to_maildir(inbox.path, mail["raw"])
    real = partial(parse_message, policy=policy_from_settings(settings))
    calls: list[bytes] = []

    def parse_failing_once(raw: bytes):  # type: ignore[no-untyped-def]
        calls.append(raw)
        if len(calls) == 1:
            raise RuntimeError("a passing fault")
        return real(raw)

    ingestor = Ingestor(engine, parse=parse_failing_once, queue=OutgoingQueue(settings),
                        policy=ingest_policy(settings), clock=clock)
    poller = Poller(MaildirSource(inbox), ingestor, engine, PollLimits())
    assert poller.run_once().actions == {"error": 1}
    for path in (tmp_path / "maildir" / "cur").iterdir():  # \Seen now: our courtesy, or a reader's
        assert path.name.endswith(":2,S"), "spooled: flagged as the courtesy it is"
    clock.advance(minutes=1)
    assert poller.run_once().actions == {"ticketed": 1}
    with read_only(engine) as session:
        assert len(repo.list_tickets(session)) == 1
