"""The Maildir source with no processed folder: committed mail is flagged Seen and left in place."""

from config.settings import InboxSettings
from mailer.maildir import MaildirSource, deliver_to_maildir
from tests.mailgen import backlog
from ventanilla.wiring import make_poller


def test_without_a_processed_folder_seen_mail_is_not_taken_again(
    make_settings, db_url, engine, clock, tmp_path
) -> None:
    inbox = InboxSettings(kind="maildir", path=str(tmp_path / "maildir"), processed_folder="")
    settings = make_settings(db_url=db_url, inbox=inbox)
    mails = backlog(3, reply_every=100)
    for mail in mails[:2]:
        deliver_to_maildir(inbox.path, mail["raw"])

    first = make_poller(settings, engine, clock, MaildirSource(inbox)).run_once()
    assert first.seen == 2 and first.processed == 2
    files = sorted(p.name for p in (tmp_path / "maildir" / "cur").iterdir())
    assert len(files) == 2 and all(name.endswith(":2,S") for name in files)  # flagged, still in the inbox

    deliver_to_maildir(inbox.path, mails[2]["raw"])
    second = make_poller(settings, engine, clock, MaildirSource(inbox)).run_once()
    assert second.seen == 1 and second.processed == 1  # only the new one
