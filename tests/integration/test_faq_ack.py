"""FAQ suggestions on a new ticket (issue 14), on a real database: the ack, the event, the agents."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

from pydantic import SecretStr

from config.settings import HelpdeskSettings
from config.sla import SlaSettings
from mailer.parse import ParsePolicy, parse_message
from tickets import repository as repo
from tickets.agents.mail import agent_policy
from tickets.db import read_only, unit_of_work
from tickets.faq.entries import load_faq
from tickets.faq.match import FaqIndex
from tickets.faq.suggest import FaqPolicy
from tickets.ingest import service
from tickets.ingest.rules import CategoryRuleSpec
from tickets.mail_context import AckContext, AgentNotificationContext
from tickets.sla.policy import SlaPolicy
from tickets.values import IngestResult, ReceiptKey

ARRIVED = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
SUPPORT = "soporte@ventanilla.example"
ANA = "ana@ventanilla.example"
ENTRIES, _ = load_faq(Path(__file__).resolve().parent.parent / "data" / "faq" / "entries")
SLA = SlaPolicy.from_settings(SlaSettings())
POLICY = service.IngestPolicy(
    helpdesk_address=SUPPORT,
    own_addresses=frozenset({SUPPORT}),
    sla=SLA,
    categories=(CategoryRuleSpec(name="revocation", keywords=("revocar", "robado"), priority="urgent"),),
    agents=agent_policy(
        HelpdeskSettings(address=SUPPORT, agents=[ANA], secret=SecretStr("faq-tests-secret-0123456789abcdef")), sla=SLA
    ),
    faq=FaqPolicy(index=FaqIndex.build(ENTRIES), max_suggestions=3),
)
_uids = count(1)


def raw_mail(subject: str, body: str, sender: str = "maria@correo.example") -> bytes:
    uid = next(_uids)
    return (
        f"From: Maria <{sender}>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n"
        f"Message-ID: <faq{uid}@correo.example>\r\nDate: Mon, 05 Oct 2026 10:00:00 +0200\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def receive(engine, raw: bytes, policy: service.IngestPolicy = POLICY) -> IngestResult:  # type: ignore[no-untyped-def]
    msg = parse_message(raw, ParsePolicy(own_addresses=frozenset({SUPPORT})))
    with unit_of_work(engine) as session:
        return service.ingest(
            session,
            key=ReceiptKey(mailbox="support", uidvalidity=1, uid=next(_uids)),
            raw=raw,
            msg=msg,
            arrived_at=ARRIVED,
            now=ARRIVED + timedelta(minutes=1),
            policy=policy,
        )


def ack_of(result: IngestResult) -> AckContext:
    (ack,) = [o.context for o in result.outgoing if o.kind == "ack"]
    assert isinstance(ack, AckContext)
    return ack


def notification_of(result: IngestResult) -> AgentNotificationContext:
    (notice,) = [o.context for o in result.outgoing if o.kind == "agent_notification"]
    assert isinstance(notice, AgentNotificationContext)
    return notice


def faq_events(engine, ticket_id: int | None) -> list[str]:  # type: ignore[no-untyped-def]
    assert ticket_id is not None
    with read_only(engine) as session:
        return [e.detail for e in repo.ticket_events(session, ticket_id) if e.kind == "faq-suggested"]


def test_a_question_the_faq_answers_gets_it_in_the_ack_and_the_agent_is_told(engine) -> None:
    result = receive(engine, raw_mail("Renovar", "Hola, mi certificado caduca el mes que viene, ¿cómo lo renuevo?"))
    ack = ack_of(result)
    urls = [link.url for link in ack.faq]
    assert "https://ayuda.ca-ejemplo.es/faq/renovar" in urls and len(urls) <= 3 and not ack.revocation_first
    (detail,) = faq_events(engine, result.ticket_id)
    assert "es-renovar " in detail and detail.count(",") == len(ack.faq) - 1
    assert float(detail.split(",")[0].split()[1]) >= 3.0  # the score is recorded with the id
    assert notification_of(result).suggested == ack.faq


def test_the_ticket_language_picks_the_entries(engine) -> None:
    result = receive(engine, raw_mail("Renewal", "Hello, my certificate expires next month. How do I renew it?"))
    assert [link.url.rsplit("/", 1)[1] for link in ack_of(result).faq][:1] == ["renew"]
    assert all("/en/faq/" in link.url for link in ack_of(result).faq)


def test_quoted_history_and_signature_are_not_matched(engine) -> None:
    body = (
        "¿Cuál es el horario de sus oficinas centrales?\n\n-- \nMaría\n\n"
        "El lun, 5 oct 2026 a las 9:00, Soporte <soporte@ventanilla.example> escribió:\n"
        "> Para renovar el certificado antes de que caduque entre en Renovar certificado.\n"
        "> La contraseña del pfx exportar copia de seguridad AutoFirma error al firmar.\n"
    )
    result = receive(engine, raw_mail("Consulta", body))
    assert ack_of(result).faq == () and faq_events(engine, result.ticket_id) == []
    assert notification_of(result).suggested == ()


def test_a_revocation_gets_the_24_7_line_first_and_no_faq(engine) -> None:
    result = receive(engine, raw_mail("Revocar mi certificado", "Me han robado el portátil. ¿Cómo lo revoco?"))
    ack = ack_of(result)
    assert ack.revocation_first and ack.faq == () and ack.ticket.category == "revocation"
    assert faq_events(engine, result.ticket_id) == []


def test_no_ack_no_suggestion_recorded_nor_told(engine) -> None:
    silent = replace(POLICY, acks_per_hour=0)
    result = receive(engine, raw_mail("Renovar", "¿Cómo renuevo mi certificado que caduca pronto?"), silent)
    assert [o.kind for o in result.outgoing] == ["agent_notification"]
    assert faq_events(engine, result.ticket_id) == [] and notification_of(result).suggested == ()


def test_with_the_feature_off_nothing_changes(engine) -> None:
    off = replace(POLICY, faq=None)
    result = receive(engine, raw_mail("Renovar", "¿Cómo renuevo mi certificado que caduca pronto?"), off)
    assert ack_of(result).faq == () and faq_events(engine, result.ticket_id) == []
