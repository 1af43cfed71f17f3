"""Issue 12 item 10 (RELIABILITY C26): a peer helpdesk that answers our acknowledgement from a new
address each time (tickets+N@...) is ticketed, but a reply to one of our automatic messages is
never acknowledged: 12 replies give at most 1 ack in all, not 13."""

from email.utils import make_msgid

from sqlalchemy.engine import Engine

from tests.integration.smtp_sink import *  # noqa: F403
from tests.integration.smtp_sink import Received, SmtpSink
from tests.integration.test_ack_delivery import Desk, events, outbox_rows, smtp_settings, user_mail
from tests.integration.test_loops import peer_message, ticket_count
from tickets.clock import FakeClock

PEER_DOMAIN = "otro-helpdesk.example"
PEER = f"tickets@{PEER_DOMAIN}"
REPLIES = 12


def from_new_address(ours: Received | None, n: int, parent: str, root: str) -> bytes:
    """The peer's answer #n, unmarked, from tickets+n@: In-Reply-To its parent, References the root."""
    subject = f"Re: {ours.parsed()['Subject']}" if ours else f"Re: Solicitud PEER-{n - 1} recibida"
    return peer_message(
        {
            "From": f"Otro Helpdesk <tickets+{n}@{PEER_DOMAIN}>",
            "To": "soporte@ventanilla.example",
            "Subject": subject,
            "Date": "Mon, 05 Oct 2026 09:00:00 +0000",
            "Message-ID": make_msgid(f"peer{n}", PEER_DOMAIN),
            "In-Reply-To": parent,
            "References": " ".join(dict.fromkeys([root, parent])),
        },
        f"Su solicitud ha sido registrada con la referencia PEER-{n}.\n",
    )


def to_peer(sink: SmtpSink) -> list[Received]:
    return [m for m in sink.received if any(r.endswith("@" + PEER_DOMAIN) for r in m.rcpt_tos)]


async def test_a_peer_answering_from_new_addresses_gets_one_ack_in_all(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    _, first = user_mail(
        index=0, sender=PEER, name="Otro Helpdesk", when=clock.now(),
        subject="Consulta sobre certificados de empresa", body="¿Emiten certificados de representante?\n",
    )
    assert desk.receive(first).action == "ticketed"
    await desk.drain()
    answered, actions = 0, []
    for n in range(1, REPLIES + 1):  # the peer answers whatever of ours reached it...
        mail = to_peer(smtp_sink)
        ours = mail[answered] if answered < len(mail) else None
        answered += ours is not None
        root = str((ours or mail[0]).parsed()["Message-ID"])  # ...and else goes on in the same thread
        parent = str(ours.parsed()["Message-ID"]) if ours else f"<peer{n - 1}@{PEER_DOMAIN}>"
        clock.advance(seconds=20)
        actions.append(desk.receive(from_new_address(ours, n, parent, root)).action)
        clock.advance(seconds=20)
        await desk.drain()
    await desk.close()
    assert actions == ["ticketed"] * REPLIES  # recorded: each a ticket of its own (a stranger each)
    assert ticket_count(engine) == REPLIES + 1
    assert len(outbox_rows(engine, kind="ack")) == 1 and len(to_peer(smtp_sink)) == 1
    suppressed = events(engine, "ack-suppressed")
    assert len(suppressed) == REPLIES
    assert all(e.detail == "no ack: a reply to our automatic message (ack)" for e in suppressed)


async def test_a_person_writing_fresh_from_a_new_address_is_still_acknowledged(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    for index, sender in enumerate(["ana@correo.example", "pepe@correo.example"]):
        _, raw = user_mail(index=index, sender=sender, when=clock.now(), subject="Renovar", body="Hola\n",
                           extra=[("In-Reply-To", "<unrelated@correo.example>")])
        assert desk.receive(raw).action == "ticketed"
    await desk.close()
    assert len(outbox_rows(engine, kind="ack")) == 2
