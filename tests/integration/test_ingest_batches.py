"""Ingest in batches: stored straight through, a failing message rolled back alone, mail written aside.

The batch is first stored without savepoints; the failure rolls that whole transaction back and
the batch is stored again one savepoint per message. Nothing of the first pass may survive.
"""

from datetime import UTC, datetime
from email import message_from_bytes, policy
from functools import partial

from sqlalchemy import func, select

from config.settings import TemplatesSettings
from mailer.parse import parse_message, policy_from_settings
from mailer.templating import PACKAGED_PATH
from tests.mailgen import backlog, message
from tests.samples import sample_context
from tickets.db import read_only, unit_of_work
from tickets.ingest.spool import Incoming, Spooled
from tickets.models import Event, Message, Outbox, Participant, Receipt, Ticket
from tickets.values import OutgoingEmail, ReceiptKey
from ventanilla.app import App
from ventanilla.pipeline.outgoing import OutgoingQueue
from ventanilla.pipeline.process import Ingestor
from ventanilla.wiring import ingest_policy, make_ingestor

NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def in_process_ingestor(settings, engine, clock, queue):  # type: ignore[no-untyped-def]
    """An Ingestor parsing in this process (so a test can hand it a parser or queue of its own)."""
    parse = partial(parse_message, policy=policy_from_settings(settings))
    return Ingestor(engine, parse=parse, queue=queue, policy=ingest_policy(settings), clock=clock)


def arrivals_of(ingestor: Ingestor, raws: list[bytes], clock) -> list[Spooled]:  # type: ignore[no-untyped-def]
    """The messages spooled (UIDs 1, 2, ... in order) and claimed by this process, as intake does."""
    messages = [Incoming(uid=i + 1, raw=raw, arrived_at=clock.now(), size=len(raw)) for i, raw in enumerate(raws)]
    return ingestor.receive("INBOX", 1, messages)


def test_a_failure_after_some_writes_rolls_back_only_that_message(make_settings, db_url, engine, clock) -> None:
    settings = make_settings(db_url=db_url)
    real_queue = OutgoingQueue(settings)
    mails = backlog(6, reply_every=100)
    victim = mails[3]["sender"]
    calls: list[str] = []

    def queue(session, intent, now):  # type: ignore[no-untyped-def]
        calls.append(intent.to[0])
        if intent.to == (victim,):  # after its ticket, participant, event and receipt checks were written
            raise RuntimeError("template engine exploded")
        real_queue(session, intent, now)

    ingestor = in_process_ingestor(settings, engine, clock, queue)
    arrivals = arrivals_of(ingestor, [m["raw"] for m in mails], clock)
    results = ingestor.process_batch(arrivals)

    assert [r.action for r in results] == ["ticketed"] * 3 + ["error"] + ["ticketed"] * 2
    assert calls.count(victim) == 2  # the straight pass, then the careful one
    with read_only(engine) as session:
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        # Each ticket: its requester; the mail in; the ack and a notice to each of the two agents out.
        assert count(Ticket) == 5 and count(Receipt) == 6 and count(Outbox) == 15
        assert count(Participant) == 5 and count(Message) == 20
        assert session.scalar(select(func.count()).select_from(Outbox).where(Outbox.recipients == victim)) == 0
        assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.requester_email == victim)) == 0
        assert session.scalar(select(func.count()).select_from(Event).where(Event.actor == victim)) == 0
        statuses = dict(session.execute(select(Receipt.uid, Receipt.status)).all())
        assert statuses == {1: "ticketed", 2: "ticketed", 3: "ticketed", 4: "failed", 5: "ticketed", 6: "ticketed"}

    outcomes: list[list[tuple[Spooled, str]]] = []
    ingestor.process_due(outcomes.append)
    assert outcomes == [], "a failed message waits for its retry time"
    clock.advance(minutes=1)
    ingestor.process_due(outcomes.append)  # a later attempt, the fault still there
    assert [(r.key.uid, r.attempts, action) for r, action in outcomes[0]] == [(4, 2, "error")]
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 5
        failed = session.scalars(select(Receipt).where(Receipt.uid == 4)).one()
        assert failed.status == "failed" and failed.attempts == 2 and "exploded" in failed.reason
    ingestor.close()


def utf8_sender_mail() -> bytes:
    return (
        "From: José <josé@ejemplo.es>\r\nTo: soporte@ventanilla.example\r\nSubject: Renovar certificado\r\n"
        "Message-ID: <utf8-1@ejemplo.es>\r\nDate: Mon, 05 Oct 2026 09:00:00 +0000\r\n\r\nHola, ¿cómo renuevo?\r\n"
    ).encode()


def test_batch_mail_is_written_in_the_parsing_process_and_stored_whole(make_settings, db_url, engine, clock) -> None:
    settings = make_settings(db_url=db_url)
    ingestor = make_ingestor(App(settings, engine, clock))  # one parsing process (the default): mail is written there
    mails = [m["raw"] for m in backlog(40, reply_every=100)]
    mails.insert(7, utf8_sender_mail())  # an address compose cannot put in a header (no SMTPUTF8)
    arrivals = arrivals_of(ingestor, mails, clock)
    try:
        results = ingestor.process_batch(arrivals)
    finally:
        ingestor.close()

    assert [r.action for r in results] == ["ticketed"] * 41
    with read_only(engine) as session:
        rows = session.scalars(select(Outbox).order_by(Outbox.id)).all()
        acks = [r for r in rows if r.kind == "ack"]
        assert len(acks) == 40 and len(rows) == 40 + 41 * 2  # an ack each but José's; the two agents told of all
        for row in rows:  # every row has its bytes; nothing reserved is left empty
            parsed = message_from_bytes(row.raw, policy=policy.default)
            assert parsed["Message-ID"] == row.message_id and parsed["To"] == row.recipients
        out = session.scalars(select(Message).where(Message.direction == "out")).all()
        assert sorted(m.message_id for m in out) == sorted(r.message_id for r in rows)
        jose = session.scalars(select(Ticket).where(Ticket.requester_email == "josé@ejemplo.es")).one()
        kinds = set(session.scalars(select(Event.kind).where(Event.ticket_id == jose.id)))
        assert "ack-not-sent" in kinds


def test_a_template_failing_in_the_parsing_process_holds_back_only_its_message_and_blames_it_not(
    make_settings, db_url, engine, clock, tmp_path
) -> None:
    # An operator's ack template that breaks for one requester (StrictUndefined), in both languages.
    for language in ("es", "en"):
        folder = tmp_path / "templates" / language
        folder.mkdir(parents=True)
        packaged = (PACKAGED_PATH / language / "ack.txt").read_text()
        trap = '{% if requester.email == "user3@correo3.example" %}{{ no_such_value }}{% endif %}'
        (folder / "ack.txt").write_text(trap + packaged)
    settings = make_settings(db_url=db_url, templates=TemplatesSettings(path=str(tmp_path / "templates")))
    ingestor = make_ingestor(App(settings, engine, clock))
    mails = backlog(40, reply_every=100)
    arrivals = arrivals_of(ingestor, [m["raw"] for m in mails], clock)
    try:
        results = ingestor.process_batch(arrivals)
    finally:
        ingestor.close()

    assert [r.action for r in results].count("ticketed") == 39
    assert results[3].action == "waiting" and "no_such_value" in results[3].reason
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 39
        assert session.scalar(select(func.count()).select_from(Outbox)) == 39 * 3
        assert not session.scalars(select(Ticket).where(Ticket.requester_email == mails[3]["sender"])).all()
        held = session.scalars(select(Receipt).where(Receipt.uid == 4)).one()
    # The operator's template is at fault, not the message: it waits, no attempt counted against it.
    assert held.status == "received" and held.attempts == 0 and "no_such_value" in held.reason


def test_a_reply_by_reference_in_the_same_batch_sees_the_new_tickets_participants(
    make_settings, db_url, engine, clock
) -> None:
    # Participants are written in one statement at the end of the batch; threading by [#N] needs
    # the sender to be one of them, so they must be there when the second message asks.
    settings = make_settings(db_url=db_url)
    first = message(index=1, sender="ana@correo.example", subject="Renovar certificado", body="¿Cómo?", when=NOW)
    second = message(index=2, sender="ana@correo.example", subject="[#1] Más datos", body="Es el de firma.", when=NOW)
    stranger = message(index=3, sender="eve@evil.example", subject="[#1] Más datos", body="Yo también.", when=NOW)
    ingestor = in_process_ingestor(settings, engine, clock, OutgoingQueue(settings))
    arrivals = arrivals_of(ingestor, [raw for _, raw in [first, second, stranger]], clock)
    results = ingestor.process_batch(arrivals)
    assert [(r.action, r.ticket_id) for r in results] == [("ticketed", 1), ("followup", 1), ("ticketed", 2)]
    with read_only(engine) as session:
        assert set(session.scalars(select(Participant.email).where(Participant.ticket_id == 1))) == {
            "ana@correo.example"
        }
        kinds = list(session.scalars(select(Event.kind).where(Event.ticket_id == 1).order_by(Event.id)))
        assert kinds[0] == "created" and "user-message" in kinds and "outsider-reference" in kinds


def test_batch_mail_is_queued_once_per_idempotency_key(make_settings, db_url, engine, clock) -> None:
    settings = make_settings(db_url=db_url)
    queue = OutgoingQueue(settings)
    ingestor = in_process_ingestor(settings, engine, clock, queue)
    first = ingestor.process(ReceiptKey(mailbox="INBOX", uidvalidity=1, uid=1), backlog(1)[0]["raw"], clock.now())
    assert first.action == "ticketed" and first.ticket_id == 1  # its ack is queued, key "ack:1"

    def intent(kind: str, key: str) -> OutgoingEmail:
        context = sample_context(kind, clock.now())
        return OutgoingEmail(
            kind=kind, ticket_id=1, to=("luis@ventanilla.example",), idempotency_key=key, language="es", context=context
        )

    with read_only(engine) as session:
        before = set(session.scalars(select(Outbox.idempotency_key)))
    assert "ack:1" in before
    with unit_of_work(engine) as session:
        batch = queue.batch()
        batch.add(session, intent("ack", "ack:1"), clock.now())  # taken: nothing added
        batch.add(session, intent("ack", "ack:again"), clock.now())  # reserved at once (counted)
        batch.add(session, intent("command_error", "command:1"), clock.now())  # inserted at the end...
        batch.add(session, intent("command_error", "command:1"), clock.now())  # ...once
        batch.add(session, intent("command_error", "notify:1:x"), clock.now())
        batch.finish(session)
    with read_only(engine) as session:
        rows = session.scalars(select(Outbox)).all()
        out = session.scalars(select(Message).where(Message.direction == "out")).all()
    added = sorted({r.idempotency_key for r in rows} - before)
    assert added == ["ack:again", "command:1", "notify:1:x"] and len(rows) == len(before) + 3
    assert sorted(m.message_id for m in out) == sorted(r.message_id for r in rows)  # one thread entry each
    for row in rows:
        assert message_from_bytes(row.raw, policy=policy.default)["Message-ID"] == row.message_id
    ingestor.close()


def test_the_per_sender_cap_counts_acks_queued_by_earlier_batches(make_settings, db_url, engine, clock) -> None:
    # A batch reads the acks already queued to its senders in one query at its start (guessed from
    # the From headers); the cap must hold across batches however the address is written.
    settings = make_settings(db_url=db_url)
    ingestor = make_ingestor(App(settings, engine, clock))  # batches stored straight through

    def mail(index: int, sender: str) -> bytes:
        return message(index=index, sender=sender, subject=f"Consulta {index}", body="¿Y?", when=NOW)[1]

    first = [mail(i, "ana@correo.example") for i in range(1, 5)]  # 4 acks: one left under the cap of 5
    ingestor.process_batch(arrivals_of(ingestor, first, clock))
    clock.advance(minutes=10)
    shouting = [mail(10 + i, "ANA@Correo.Example") for i in range(3)]
    raws = [*shouting, mail(20, "luis@correo.example")]
    later = [Incoming(uid=10 + i, raw=raw, arrived_at=clock.now(), size=len(raw)) for i, raw in enumerate(raws)]
    try:
        results = ingestor.process_batch(ingestor.receive("INBOX", 1, later))
    finally:
        ingestor.close()
    assert [r.action for r in results] == ["ticketed"] * 4
    with read_only(engine) as session:
        acks = list(session.scalars(select(Outbox.recipients).where(Outbox.kind == "ack").order_by(Outbox.id)))
        suppressed = session.scalar(select(func.count()).select_from(Event).where(Event.kind == "ack-suppressed"))
    assert acks == ["ana@correo.example"] * 5 + ["luis@correo.example"]
    assert suppressed == 2


def test_customer_history_is_right_for_first_second_and_returning_requesters_in_one_batch(
    make_settings, db_url, engine, clock
) -> None:
    # The batch asks once who has tickets; a first ticket skips the history query, and the same
    # person's second ticket in the batch still lists the first.
    settings = make_settings(db_url=db_url)
    ingestor = make_ingestor(App(settings, engine, clock))

    def mail(index: int, sender: str, subject: str) -> bytes:
        return message(index=index, sender=sender, subject=subject, body="¿Y?", when=NOW)[1]

    try:
        ingestor.process_batch(arrivals_of(ingestor, [mail(1, "luis@correo.example", "Certificado viejo")], clock))
        raws = [
            mail(2, "ana@correo.example", "Primera consulta"),
            mail(3, "ana@correo.example", "Segunda consulta"),
            mail(4, "luis@correo.example", "Otra cosa"),
        ]
        later = [Incoming(uid=10 + i, raw=raw, arrived_at=clock.now(), size=len(raw)) for i, raw in enumerate(raws)]
        results = ingestor.process_batch(ingestor.receive("INBOX", 1, later))
    finally:
        ingestor.close()
    assert [(r.action, r.ticket_id) for r in results] == [("ticketed", 2), ("ticketed", 3), ("ticketed", 4)]

    def history_of(ticket_id: int) -> set[str]:
        with read_only(engine) as session:
            raws = session.scalars(
                select(Outbox.raw).where(Outbox.kind == "agent_notification", Outbox.ticket_id == ticket_id)
            ).all()
        texts = {
            str(message_from_bytes(raw, policy=policy.default).get_body(("plain",)).get_content())  # type: ignore[union-attr]
            for raw in raws
        }
        assert len(texts) == 1  # both agents were told the same
        (text,) = texts
        return (
            {s for s in ("Certificado viejo", "Primera consulta") if s in text.split("anteriores", 1)[-1]}
            if ("anteriores" in text)
            else set()
        )

    assert history_of(2) == set()
    assert history_of(3) == {"Primera consulta"}
    assert history_of(4) == {"Certificado viejo"}
