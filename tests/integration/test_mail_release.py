"""`ventanilla mail release`: a message quarantined for a failure of its own is processed again
once the cause is fixed (here: a parser that tripped on it, then the real one)."""

from functools import partial

from typer.testing import CliRunner

from mailer.maildir import MaildirSource, deliver_to_maildir
from mailer.parse import parse_message, policy_from_settings
from tests.e2e.conftest import write_config
from tests.mailgen import backlog
from tickets import repository as repo
from tickets.db import read_only
from ventanilla.cli import app
from ventanilla.pipeline.intake import Poller, PollLimits
from ventanilla.pipeline.outgoing import OutgoingQueue
from ventanilla.pipeline.process import Ingestor
from ventanilla.wiring import ingest_policy


def test_a_quarantined_message_is_released_and_ticketed_once_the_cause_is_fixed(
    make_settings, db_url, engine, clock, tmp_path
) -> None:
    settings = make_settings(db_url=db_url)
    mail = backlog(1)[0]
    deliver_to_maildir(settings.inbox.path, mail["raw"])

    def tripping(raw: bytes):  # type: ignore[no-untyped-def]
        raise RuntimeError("a parser bug this message triggers")

    ingestor = Ingestor(
        engine,
        parse=tripping,
        queue=OutgoingQueue(settings),
        policy=ingest_policy(settings),
        clock=clock,
        max_attempts=1,
    )
    assert Poller(MaildirSource(settings.inbox), ingestor, engine, PollLimits()).run_once().quarantined == 1
    with read_only(engine) as session:
        (receipt,) = repo.quarantined(session)
    assert receipt.reason.startswith("poison: RuntimeError")
    assert partial(parse_message, policy=policy_from_settings(settings))(mail["raw"])  # the real parser copes

    config = write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url},
            "inbox": {"kind": "maildir", "path": settings.inbox.path, "parse_processes": 0},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
            "helpdesk": {"secret": settings.helpdesk.secret.get_secret_value()},
        },
    )
    released = CliRunner().invoke(app, ["--config", str(config), "mail", "release", str(receipt.id)])
    assert released.exit_code == 0, released.output
    assert f"{receipt.id}: released: ticketed ticket #" in released.output
    with read_only(engine) as session:
        (ticket,) = repo.list_tickets(session)
        assert repo.quarantined(session) == []
    assert ticket.requester_email == mail["sender"]
