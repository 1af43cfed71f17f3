"""The ingest use case on a real database (SQLite and PostgreSQL), with parsed values built by hand."""

import hashlib
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import func, select

from config.sla import SlaSettings
from tickets import repository as repo
from tickets.db import read_only, unit_of_work
from tickets.ingest import service
from tickets.models import Message, Receipt, Ticket
from tickets.outbox.writer import RenderedMail, write_outbox
from tickets.sla.policy import SlaPolicy
from tickets.values import Address, IncomingMessage, ReceiptKey

ARRIVED = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
POLICY = service.IngestPolicy(
    helpdesk_address="soporte@ventanilla.example",
    own_addresses=frozenset({"soporte@ventanilla.example"}),
    acks_per_hour=5,
    sla=SlaPolicy.from_settings(SlaSettings()),
)
_uids = count(1)


def incoming(
    sender: str = "ana@correo.example", body: str = "Hola, no puedo descargar mi certificado", **kw
) -> IncomingMessage:
    raw_sha = hashlib.sha256(f"{sender}{body}{kw}{next(_uids)}".encode()).hexdigest()
    defaults = {"message_id": f"<{raw_sha[:16]}@correo.example>", "subject": "Certificado", "raw_sha256": raw_sha}
    return IncomingMessage(sender=Address(name="Ana", email=sender), text=body, **(defaults | kw))


def ingest(engine, msg: IncomingMessage, *, uid: int | None = None, arrived: datetime = ARRIVED):
    key = ReceiptKey(mailbox="support", uidvalidity=7, uid=uid or next(_uids))
    with unit_of_work(engine) as session:
        result = service.ingest(
            session,
            key=key,
            raw=b"raw " + msg.raw_sha256.encode(),
            msg=msg,
            arrived_at=arrived,
            now=arrived + timedelta(minutes=1),
            policy=POLICY,
        )
        mails = [
            RenderedMail(
                intent=intent,
                message_id=f"<ack{result.ticket_id}@ventanilla.example>",
                raw=b"ack",
                subject="ack",
                text="ack",
                sender="soporte@ventanilla.example",
                now=arrived + timedelta(minutes=1),
            )
            for intent in result.outgoing
        ]
        write_outbox(session, mails)
    return result


def ticket(engine, number: int) -> Ticket:
    with read_only(engine) as session:
        found = session.get(Ticket, number)
        assert found is not None
        return found


def test_new_ticket_records_sla_from_arrival_and_queues_one_ack(engine) -> None:
    result = ingest(engine, incoming())
    assert result.action == "ticketed"
    t = ticket(engine, result.ticket_id)
    assert (t.status, t.requester_email, t.language) == ("open", "ana@correo.example", "es")
    assert t.created_at == ARRIVED
    assert t.response_due_at == ARRIVED + timedelta(hours=24)
    assert t.hard_due_at == ARRIVED + timedelta(hours=48)
    assert [o.kind for o in result.outgoing] == ["ack"]


def test_same_receipt_key_twice_changes_nothing(engine) -> None:
    msg = incoming()
    first = ingest(engine, msg, uid=900)
    second = ingest(engine, msg, uid=900)
    assert second.action == "already" and second.ticket_id == first.ticket_id
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1


def test_same_bytes_under_a_new_uid_is_a_duplicate(engine) -> None:
    msg = incoming()
    first = ingest(engine, msg)
    again = ingest(engine, msg)  # e.g. after a UIDVALIDITY change
    assert again.action == "duplicate" and again.ticket_id == first.ticket_id
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) == 1


def test_same_message_id_different_content_keeps_both(engine) -> None:
    a = ingest(engine, incoming(message_id="<same@x>"))
    b = ingest(engine, incoming(message_id="<same@x>", body="otro texto distinto"))
    assert a.action == b.action == "ticketed"
    assert a.ticket_id != b.ticket_id


def test_follow_up_by_reference_joins_and_restarts_the_clock_when_pending(engine) -> None:
    first = ingest(engine, incoming(message_id="<q1@correo.example>"))
    with unit_of_work(engine) as session:
        t = session.get(Ticket, first.ticket_id)
        t.status = "pending"
        session.add(t)
    later = ARRIVED + timedelta(hours=30)
    reply = ingest(engine, incoming(in_reply_to=("<q1@correo.example>",), subject="Re: Certificado"), arrived=later)
    assert (reply.action, reply.ticket_id) == ("followup", first.ticket_id)
    t = ticket(engine, first.ticket_id)
    assert (t.status, t.cycle, t.cycle_started_at) == ("open", 2, later)
    assert t.response_due_at == later + timedelta(hours=24)
    assert reply.outgoing == ()


def test_reply_to_our_ack_by_subject_reference_joins(engine) -> None:
    first = ingest(engine, incoming())
    reply = ingest(engine, incoming(subject=f"Re: [#{first.ticket_id}] Certificado"))
    assert (reply.action, reply.ticket_id) == ("followup", first.ticket_id)


def test_stranger_with_forged_reference_or_subject_gets_own_ticket(engine) -> None:
    first = ingest(engine, incoming(message_id="<secret@correo.example>"))
    forged = ingest(engine, incoming("eve@evil.example", in_reply_to=("<secret@correo.example>",)))
    quoted = ingest(engine, incoming("eve@evil.example", subject=f"Re: [#{first.ticket_id}] dame los datos"))
    assert forged.action == quoted.action == "ticketed"
    assert first.ticket_id not in (forged.ticket_id, quoted.ticket_id)
    with read_only(engine) as session:
        senders = {m.from_addr for m in repo.ticket_messages(session, first.ticket_id)}
        events = repo.ticket_events(session, first.ticket_id)
    assert "eve@evil.example" not in senders
    # Each attempt is recorded on the ticket it aimed at, for its agents.
    assert [e.actor for e in events if e.kind == "outsider-reference"] == ["eve@evil.example"] * 2


def test_reply_to_closed_ticket_opens_a_linked_one(engine) -> None:
    first = ingest(engine, incoming(message_id="<old@correo.example>"))
    with unit_of_work(engine) as session:
        t = session.get(Ticket, first.ticket_id)
        t.status = "closed"
        session.add(t)
    reply = ingest(engine, incoming(in_reply_to=("<old@correo.example>",)))
    assert reply.action == "ticketed" and reply.ticket_id != first.ticket_id
    assert ticket(engine, reply.ticket_id).linked_ticket_id == first.ticket_id


@pytest.mark.parametrize(
    ("auto", "action"), [("loop", "ignored"), ("own", "ignored"), ("bulk", "ignored"), ("auto-reply", "ignored")]
)
def test_automatic_mail_is_recorded_never_ticketed_nor_acknowledged(engine, auto: str, action: str) -> None:
    result = ingest(engine, incoming(auto=auto, auto_reason="header"))
    assert (result.action, result.outgoing) == (action, ())
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0
        assert session.scalars(select(Receipt.status)).all() == ["ignored"]


def test_out_of_office_in_a_thread_is_attached_without_reopening(engine) -> None:
    first = ingest(engine, incoming(message_id="<q2@correo.example>"))
    ooo = ingest(engine, incoming(auto="auto-reply", in_reply_to=("<q2@correo.example>",)))
    assert (ooo.action, ooo.ticket_id, ooo.outgoing) == ("attached", first.ticket_id, ())
    assert ticket(engine, first.ticket_id).cycle == 1


def test_message_without_single_sender_is_quarantined(engine) -> None:
    assert ingest(engine, incoming(sender="")).action == "quarantined"
    assert ingest(engine, incoming(from_count=2)).action == "quarantined"
    with read_only(engine) as session:
        assert len(repo.quarantined(session)) == 2


def test_acknowledgements_are_rate_limited_per_sender(engine) -> None:
    results = [ingest(engine, incoming(body=f"pregunta {i}")) for i in range(7)]
    assert [len(r.outgoing) for r in results] == [1, 1, 1, 1, 1, 0, 0]
    assert all(r.action == "ticketed" for r in results)
    with read_only(engine) as session:
        events = repo.ticket_events(session, results[-1].ticket_id)
    assert any(e.kind == "ack-suppressed" and "rate limit" in e.detail for e in events)


def test_revocation_is_urgent_by_keyword_rule(engine) -> None:
    from tickets.ingest.rules import CategoryRuleSpec

    policy = service.IngestPolicy(
        helpdesk_address=POLICY.helpdesk_address,
        own_addresses=POLICY.own_addresses,
        sla=POLICY.sla,
        categories=(CategoryRuleSpec(name="revocation", keywords=("revocar",), priority="urgent"),),
    )
    msg = incoming(subject="Necesito revocar mi certificado")
    with unit_of_work(engine) as session:
        result = service.ingest(
            session,
            key=ReceiptKey(mailbox="s", uidvalidity=1, uid=1),
            raw=b"x",
            msg=msg,
            arrived_at=ARRIVED,
            now=ARRIVED,
            policy=policy,
        )
    t = ticket(engine, result.ticket_id)
    assert (t.category, t.priority) == ("revocation", "urgent")
