"""A DSN at our signed VERP address, or quoting our Message-ID, marks the outbox row bounced and the
requester undeliverable."""

from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.compose import verp_address
from tests.mailgen import backlog
from tickets import repository as repo
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


# -- bounces that did not come back to the VERP address (issue 12 item 11) ----------------------------

BOUNCES = Path(__file__).parents[1] / "data" / "bounces"
QUOTING_SAMPLES = sorted(p.stem for p in BOUNCES.glob("*.eml"))  # Postfix, Exchange NDR, qmail plain text


def bounce_quoting(sample: str, message_id: str, rcpt: str, ticket_id: int) -> bytes:
    """A real MTA's bounce, sent to the plain support address, quoting `message_id` for `rcpt`."""
    raw = (BOUNCES / f"{sample}.eml").read_bytes()
    for name, value in (("MESSAGE_ID", message_id), ("RCPT_LOCAL", rcpt.split("@")[0]), ("RCPT", rcpt)):
        raw = raw.replace(f"@@{name}@@".encode(), value.encode())
    return raw.replace(b"@@TICKET@@", str(ticket_id).encode())


def state(engine, ticket_id: int) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    """Everything a bounce may change: the ticket's flag and events, and the outbox."""
    with read_only(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        events = [(e.kind, e.detail) for e in repo.ticket_events(session, ticket_id)]
        outbox = [(r.id, r.kind, r.status) for r in session.scalars(select(Outbox).order_by(Outbox.id))]
        tickets = session.scalar(select(func.count()).select_from(Ticket))
        return ticket.requester_undeliverable, events, outbox, tickets


@pytest.mark.parametrize("sample", QUOTING_SAMPLES)
def test_bounce_to_the_plain_address_is_known_by_the_message_id_it_quotes(
    make_settings, db_url, engine, clock, sample: str
) -> None:
    ingestor, ticket_id, outbox_id, sender, _ = setup_ticket(make_settings, db_url, engine, clock)
    with read_only(engine) as session:
        ack_id = session.get(Outbox, outbox_id).message_id
    _, events_before, outbox_before, _ = state(engine, ticket_id)
    raw = bounce_quoting(sample, ack_id, sender, ticket_id)
    assert b"+b" not in raw and ack_id.encode() in raw  # not at a VERP address; our ack quoted
    result = ingestor.process(ReceiptKey(mailbox="s", uidvalidity=1, uid=2), raw, clock.now())

    assert (result.action, result.ticket_id, result.outgoing) == ("attached", ticket_id, ())
    undeliverable, events, outbox, tickets = state(engine, ticket_id)
    assert undeliverable is True and tickets == 1
    (bounce,) = [detail for kind, detail in events[len(events_before) :] if kind == "bounce"]
    assert bounce.startswith("failed: ") and sender in bounce and f"outbox {outbox_id}" in bounce
    assert outbox == [(i, k, "bounced" if i == outbox_id else s) for i, k, s in outbox_before], "nothing queued"


@pytest.mark.parametrize("sample", QUOTING_SAMPLES)
@pytest.mark.parametrize("quoted", ["<ack.1.1759654928.a1b2c3d4e5f6@ventanilla.example>", "<CAF+x=1@mail.gmail.com>"])
def test_bounce_quoting_a_message_id_that_is_not_ours_stays_ignored(
    make_settings, db_url, engine, clock, sample: str, quoted: str
) -> None:
    ingestor, ticket_id, outbox_id, sender, _ = setup_ticket(make_settings, db_url, engine, clock)
    before = state(engine, ticket_id)
    raw = bounce_quoting(sample, quoted, sender, ticket_id)
    result = ingestor.process(ReceiptKey(mailbox="s", uidvalidity=1, uid=2), raw, clock.now())
    assert (result.action, result.ticket_id, result.outgoing) == ("ignored", None, ())
    assert state(engine, ticket_id) == before, "no ticket touched"
