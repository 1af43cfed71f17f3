"""The acknowledgement of a web form submission is in the language of the page it was sent from
(whatever the language of the text); the text is still matched in its own language. Mail is not
believed when it says its language: only the form's own mailbox is."""

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from config.sla import SlaSettings
from mailer.parse import ParsePolicy, parse_message
from tests.integration.test_web_form import page_and_token, web  # noqa: F401 (the fixture)
from tests.webhelpers import filled
from tickets.clock import FakeClock
from tickets.db import read_only, unit_of_work
from tickets.ingest import service
from tickets.models import Outbox, Ticket
from tickets.sla.policy import SlaPolicy
from tickets.values import ReceiptKey
from tickets.web.spam import WEB_MAILBOX

SPANISH = "Mi certificado caduca mañana y no consigo renovarlo desde la sede, ¿qué tengo que hacer?"
ENGLISH = "My certificate expires tomorrow and I cannot renew it from the website, what should I do?"


def _ack(engine: Engine) -> tuple[Ticket, EmailMessage]:
    with read_only(engine) as session:
        ticket = session.scalars(select(Ticket)).one()
        (row,) = session.scalars(select(Outbox).where(Outbox.kind == "ack")).all()
        mail = message_from_bytes(row.raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    return ticket, mail


def _text(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def test_spanish_text_from_the_english_page_is_answered_in_english(  # type: ignore[no-untyped-def]
    web,  # noqa: F811
    clock: FakeClock,
    engine: Engine,
) -> None:
    client = web()
    answer = client.post("/?lang=en", data=filled(page_and_token(client, clock, "?lang=en"), message=SPANISH))
    assert answer.status_code == 200
    ticket, ack = _ack(engine)
    assert ticket.language == "en" and ack["Content-Language"] == "en"
    assert _text(ack).startswith("Hello Ana Pérez,"), _text(ack)
    # Its words are still read as Spanish: the category rule (renovar) and the Spanish FAQ entry.
    assert ticket.category == "renewal"
    assert "https://ventanilla.example/faq/renovar" in _text(ack)


def test_english_text_from_the_spanish_page_is_answered_in_spanish(  # type: ignore[no-untyped-def]
    web,  # noqa: F811
    clock: FakeClock,
    engine: Engine,
) -> None:
    client = web()
    data = filled(page_and_token(client, clock, "?lang=es"), subject="Renewal", message=ENGLISH)
    assert client.post("/?lang=es", data=data).status_code == 200
    ticket, ack = _ack(engine)
    assert ticket.language == "es" and ack["Content-Language"] == "es"
    assert _text(ack).startswith("Hola Ana Pérez:"), _text(ack)


@pytest.mark.parametrize(("mailbox", "language"), [("INBOX", "es"), (WEB_MAILBOX, "en")])
def test_only_the_web_forms_mail_is_believed_about_its_language(engine: Engine, mailbox: str, language: str) -> None:
    """A mail client's Content-Language is its user's locale, not the text's: mail is read."""
    raw = (
        "From: Maria <maria@correo.example>\r\nTo: soporte@ventanilla.example\r\nSubject: Renovar\r\n"
        "Message-ID: <lang@correo.example>\r\nContent-Language: en-GB\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{SPANISH}\r\n"
    ).encode()
    msg = parse_message(raw, ParsePolicy(own_addresses=frozenset({"soporte@ventanilla.example"})))
    assert msg.content_language == "en"
    arrived = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
    ingest_policy = service.IngestPolicy(
        helpdesk_address="soporte@ventanilla.example",
        own_addresses=frozenset({"soporte@ventanilla.example"}),
        sla=SlaPolicy.from_settings(SlaSettings()),
    )
    with unit_of_work(engine) as session:
        result = service.ingest(
            session,
            key=ReceiptKey(mailbox=mailbox, uidvalidity=1, uid=1),
            raw=raw,
            msg=msg,
            arrived_at=arrived,
            now=arrived + timedelta(minutes=1),
            policy=ingest_policy,
        )
    (ack,) = [o for o in result.outgoing if o.kind == "ack"]
    assert ack.language == language
