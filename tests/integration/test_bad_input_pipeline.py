"""Hostile and exotic mail through the real pipeline (Dovecot → parser → database): each has its outcome."""

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.mailgen import backlog, message
from tickets.db import read_only
from tickets.models import AttachmentRow, Message, Receipt, Ticket
from ventanilla.app import App
from ventanilla.wiring import make_poller

EMAILS = Path(__file__).parents[1] / "data" / "emails"

EXPECTED = {
    "subject_iso8859_q.eml": ("ticketed", "Café crème"),
    "subject_split_words.eml": ("ticketed", "Renovación del certificado urgente"),
    "subject_crlf_injection.eml": ("ticketed", "hi Bcc: v@x"),
    "base64_body.eml": ("ticketed", None),
    "html_only.eml": ("ticketed", None),
    "wrong_charset.eml": ("ticketed", None),
    "unknown_charset.eml": ("ticketed", None),
    "no_message_id.eml": ("ticketed", None),
    "non_mime.eml": ("ticketed", None),
    "attachment_names.eml": ("ticketed", None),
    "forwarded_rfc822.eml": ("ticketed", None),
    "rfc2231_filename.eml": ("ticketed", None),
    "broken_mime.eml": ("ticketed", None),
    "outlook_suppress.eml": ("ticketed", None),
    "no_from.eml": ("quarantined", None),
    "two_from.eml": ("quarantined", None),
    "three_mailboxes.eml": ("quarantined", None),
    "auto_reply.eml": ("ignored", None),
    "list_mail.eml": ("ignored", None),
    "own_address.eml": ("ignored", None),
    "own_loop_header.eml": ("ticketed", None),  # a forged loop header: a ticket, no ack (issue 12 item 12)
    "many_received.eml": ("ignored", None),
    "dsn_failed.eml": ("ignored", None),
    "dsn_delayed.eml": ("ignored", None),
}


def run(settings, engine, clock):  # type: ignore[no-untyped-def]
    poller = make_poller(App(settings, engine, clock))
    try:
        return poller.run_once()
    finally:
        poller.source.close()


def test_corpus_through_imap(dovecot, imap_settings, make_settings, db_url, engine, clock) -> None:
    names = sorted(EXPECTED)
    with dovecot.imap_client() as client:
        for name in names:
            client.append("INBOX", (EMAILS / name).read_bytes())
    settings = make_settings(db_url=db_url, inbox=imap_settings())
    stats = run(settings, engine, clock)
    assert stats.seen == len(names)
    with read_only(engine) as session:
        receipts = session.execute(select(Receipt.uid, Receipt.status, Receipt.ticket_id).order_by(Receipt.uid)).all()
        subjects = {t.id: t.subject for t in session.scalars(select(Ticket))}
        names_of_attachments = set(session.scalars(select(AttachmentRow.filename)))
    assert len(receipts) == len(names)  # nothing lost: every message has exactly one outcome
    for (_uid, status, ticket_id), name in zip(receipts, names, strict=True):
        expected_status, expected_subject = EXPECTED[name]
        assert status == expected_status, name
        if expected_subject:
            assert subjects[ticket_id] == expected_subject, name
    assert not any("/" in n or "\\" in n or ".." in n for n in names_of_attachments)
    assert len(dovecot.uids("Quarantine")) == 3 and len(dovecot.uids("Processed")) == len(names) - 3


def test_huge_header_and_huge_message_are_quarantined_not_lost(
    dovecot, imap_settings, make_settings, db_url, engine, clock
) -> None:
    _, normal = message(index=1, sender="ana@correo.example", subject="Hola", body="Texto", when=backlog(1)[0]["when"])
    huge_header = normal.replace(b"Subject:", b"X-Filler: " + b"a" * (2 * 1024 * 1024) + b"\r\nSubject:", 1)
    attachment = b"x" * (30 * 1024 * 1024)
    huge_message = normal.replace(b"Texto", attachment, 1)
    with dovecot.imap_client() as client:
        client.append("INBOX", huge_header)
        client.append("INBOX", huge_message)
    settings = make_settings(db_url=db_url, inbox=imap_settings())
    stats = run(settings, engine, clock)
    assert stats.quarantined == 2
    with read_only(engine) as session:
        reasons = sorted(r for r in session.scalars(select(Receipt.reason)))
    assert reasons[0].startswith("too large") and "header" in reasons[1]
    assert len(dovecot.uids("Quarantine")) == 2 and dovecot.uids("INBOX") == []


@pytest.mark.parametrize("same_bytes", [True, False])
def test_same_message_id_twice(dovecot, imap_settings, make_settings, db_url, engine, clock, same_bytes) -> None:
    when = backlog(1)[0]["when"]
    _, first = message(index=5, sender="ana@correo.example", subject="Certificado", body="uno", when=when)
    _, second = message(
        index=5, sender="ana@correo.example", subject="Certificado", body="uno" if same_bytes else "dos", when=when
    )
    with dovecot.imap_client() as client:
        client.append("INBOX", first)
        client.append("INBOX", second)
    run(make_settings(db_url=db_url, inbox=imap_settings()), engine, clock)
    with read_only(engine) as session:
        statuses = sorted(session.scalars(select(Receipt.status)))
        inbound = session.scalars(select(Message.id).where(Message.direction == "in")).all()
    if same_bytes:  # a re-delivery: one message on one ticket
        assert statuses == ["duplicate", "ticketed"] and len(inbound) == 1
    else:  # a collision: both kept
        assert statuses == ["ticketed", "ticketed"] and len(inbound) == 2
