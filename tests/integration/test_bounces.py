"""A DSN at our signed VERP address marks the outbox row bounced and the requester undeliverable."""

from pathlib import Path

from sqlalchemy import func, select

from mailer.compose import verp_address
from tests.mailgen import backlog
from tickets.db import read_only
from tickets.models import Outbox, Ticket
from tickets.values import ReceiptKey
from ventanilla.app import App
from ventanilla.wiring import make_ingestor

DSN = (Path(__file__).parents[1] / "data" / "emails" / "dsn_failed.eml").read_bytes()


def dsn_for(address: str, verp: str, action: str) -> bytes:
    raw = DSN.replace(b"soporte+b17.abc@ventanilla.example", verp.encode())
    raw = raw.replace(b"Usuario.Uno@example.org", address.encode()).replace(
        b"usuario.uno@example.org", address.encode()
    )
    return raw.replace(b"Action: failed", f"Action: {action}".encode(), 1)


def setup_ticket(make_settings, db_url, engine, clock):  # type: ignore[no-untyped-def]
    settings = make_settings(db_url=db_url)
    ingestor = make_ingestor(App(settings, engine, clock))
    mail = backlog(1)[0]
    first = ingestor.process(ReceiptKey(mailbox="s", uidvalidity=1, uid=1), mail["raw"], clock.now())
    with read_only(engine) as session:
        outbox_id = session.scalars(
            select(Outbox.id).where(Outbox.ticket_id == first.ticket_id, Outbox.kind == "ack")
        ).one()
    verp = verp_address(settings.helpdesk.address, outbox_id, settings.helpdesk.secret.get_secret_value())
    return ingestor, first.ticket_id, outbox_id, mail["sender"], verp


def test_failed_dsn_marks_row_bounced_and_requester_undeliverable(make_settings, db_url, engine, clock) -> None:
    ingestor, ticket_id, outbox_id, sender, verp = setup_ticket(make_settings, db_url, engine, clock)
    result = ingestor.process(
        ReceiptKey(mailbox="s", uidvalidity=1, uid=2), dsn_for(sender, verp, "failed"), clock.now()
    )
    assert (result.action, result.ticket_id, result.outgoing) == ("attached", ticket_id, ())
    with read_only(engine) as session:
        assert session.get(Outbox, outbox_id).status == "bounced"
        assert session.get(Ticket, ticket_id).requester_undeliverable is True
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_delayed_dsn_changes_nothing(make_settings, db_url, engine, clock) -> None:
    ingestor, ticket_id, outbox_id, sender, verp = setup_ticket(make_settings, db_url, engine, clock)
    result = ingestor.process(
        ReceiptKey(mailbox="s", uidvalidity=1, uid=2), dsn_for(sender, verp, "delayed"), clock.now()
    )
    assert result.outgoing == ()
    with read_only(engine) as session:
        assert session.get(Outbox, outbox_id).status == "queued"
        assert session.get(Ticket, ticket_id).requester_undeliverable is False


def test_forged_verp_signature_is_not_trusted(make_settings, db_url, engine, clock) -> None:
    ingestor, ticket_id, outbox_id, sender, verp = setup_ticket(make_settings, db_url, engine, clock)
    forged = verp.rsplit(".", 1)[0] + ".000000000000000000000000@ventanilla.example"
    result = ingestor.process(
        ReceiptKey(mailbox="s", uidvalidity=1, uid=2), dsn_for(sender, forged, "failed"), clock.now()
    )
    assert result.action == "ignored" and result.outgoing == ()
    with read_only(engine) as session:
        assert session.get(Outbox, outbox_id).status == "queued"
        assert session.get(Ticket, ticket_id).requester_undeliverable is False
