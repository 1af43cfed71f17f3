"""One SLA source: every start of a response cycle takes its due times from the SLA policy by the
ticket's priority, and the acknowledgement promises the ticket's own target (SQLite and PostgreSQL).

Everything is wired from a configuration file as the worker and the CLI wire it: the ingestor of
`ventanilla.wiring`, the agent commands of `ventanilla.agent_cli`, the phone policy of
`ventanilla.phone_cli`; mail is rendered into the outbox and read back as the user gets it.
"""

import email
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from config.settings import Settings, load_settings
from tickets.agents import actions as agent_actions
from tickets.agents.mail import agent_reply_address
from tickets.clock import FakeClock
from tickets.db import read_only, unit_of_work
from tickets.models import Outbox, Ticket
from tickets.phone import calls as phone
from tickets.values import IngestResult, ReceiptKey
from ventanilla.agent_cli import Action, run_action
from ventanilla.app import App
from ventanilla.context import AppContext
from ventanilla.phone_cli import phone_policy
from ventanilla.pipeline.outgoing import OutgoingQueue
from ventanilla.wiring import ingest_policy, make_ingestor

SUPPORT, ANA = "soporte@ventanilla.example", "ana@ventanilla.example"
USER = "marta.gil@correo.example"
T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)  # Monday 10:00 in Madrid
FRIDAY_EVENING = datetime(2026, 10, 2, 16, 30, tzinfo=UTC)  # Friday 2 October 18:30 in Madrid
URGENT, HARD = timedelta(hours=4), timedelta(hours=8)
_uids = count(1)


def write_config(tmp_path: Path, db_url: str, *, clock: str = "calendar") -> Path:
    path = tmp_path / "ventanilla.toml"
    path.write_text(
        f"""
[database]
url = "{db_url}"
[inbox]
kind = "maildir"
path = "{tmp_path / 'maildir'}"
[outbound]
kind = "file"
path = "{tmp_path / 'sent'}"
[helpdesk]
address = "{SUPPORT}"
name = "Soporte Ventanilla"
language = "es"
agents = ["{ANA}"]
supervisors = ["jefa@ventanilla.example"]
secret = "sla-source-secret-0123456789abcdef"
[[helpdesk.categories]]
name = "revocation"
keywords = ["revocar", "revoke"]
priority = "urgent"
[sla]
clock = "{clock}"
""",
        encoding="utf-8",
    )
    return path


class Desk:
    """The worker's ingestor and the CLI's agent commands on one configuration and one clock."""

    def __init__(self, config: Path, engine: Engine, clock: FakeClock) -> None:
        self.config, self.engine, self.clock = config, engine, clock
        self.settings: Settings = load_settings(config)[0]
        self.ingestor = make_ingestor(App(self.settings, engine, clock))

    def receive(self, raw: bytes) -> IngestResult:
        key = ReceiptKey(mailbox="INBOX", uidvalidity=1, uid=next(_uids))
        return self.ingestor.process(key, raw, self.clock.now())

    def cli(self, action: Action, number: int, text: str = "") -> None:
        context = AppContext(self.config, clock=self.clock)
        try:
            run_action(context, action, number, ANA, text)
        finally:
            context.close()

    def ticket(self, number: int) -> Ticket:
        with read_only(self.engine) as session:
            found = session.get(Ticket, number)
        assert found is not None
        return found

    def texts(self, kind: str) -> list[str]:
        """The text/plain part of every queued mail of this kind, in order."""
        with read_only(self.engine) as session:
            rows = session.scalars(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id)).all()
        return [_plain(email.message_from_bytes(r.raw)) for r in rows]


def _plain(msg: email.message.Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            return " ".join(part.get_payload(decode=True).decode("utf-8").split())
    raise AssertionError("no text/plain part")


def user_mail(subject: str, body: str, when: datetime, *, sender: str = USER, to: str = SUPPORT) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Marta Gil <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<m{next(_uids)}@{sender.split('@')[1]}>"
    msg.set_content(body)
    return bytes(msg)


@pytest.fixture
def desk(tmp_path: Path, db_url: str, engine: Engine) -> Desk:
    return Desk(write_config(tmp_path, db_url), engine, FakeClock(T0))


def urgent_ticket(desk: Desk) -> int:
    raw = user_mail("Necesito revocar mi certificado", "Me han robado el portátil.", desk.clock.now())
    result = desk.receive(raw)
    assert result.action == "ticketed" and result.ticket_id is not None
    ticket = desk.ticket(result.ticket_id)
    assert ticket.priority == "urgent" and ticket.response_due_at == desk.clock.now() + URGENT
    return result.ticket_id


def assert_new_urgent_cycle(ticket: Ticket, started: datetime) -> None:
    assert (ticket.status, ticket.cycle, ticket.cycle_started_at) == ("open", 2, started)
    assert (ticket.response_due_at, ticket.hard_due_at) == (started + URGENT, started + HARD)


# -- the acknowledgement states the ticket's own target ------------------------------------------


def test_urgent_ack_promises_four_hours_and_the_local_due_moment(desk: Desk) -> None:
    urgent_ticket(desk)
    (text,) = desk.texts("ack")
    assert "en un plazo de 4 horas, antes del lunes 5 de octubre a las 14:00 (CEST)." in text
    assert "24 horas, antes" not in text


def test_english_ack_promises_within_hours_by_a_local_day_and_hour(desk: Desk) -> None:
    desk.receive(user_mail("I need to revoke my certificate", "My laptop was stolen, please revoke it.", T0))
    desk.receive(user_mail("Cannot install my certificate", "Hello, the browser says it was not found.", T0))
    urgent, normal = desk.texts("ack")
    assert "We will answer you by email within 4 hours, by Monday 5 October at 14:00 (CEST)." in urgent
    assert "within 24 hours, by Tuesday 6 October at 10:00 (CEST)." in normal


def test_under_the_business_clock_a_friday_evening_mail_is_promised_for_monday(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    desk = Desk(write_config(tmp_path, db_url, clock="business"), engine, FakeClock(FRIDAY_EVENING))
    desk.receive(user_mail("Necesito revocar mi certificado", "Me han robado el portátil.", FRIDAY_EVENING))
    (text,) = desk.texts("ack")
    # 30 minutes on Friday (open until 19:00), then 3.5 h from Monday 08:00
    assert "en un plazo de 4 horas hábiles, antes del lunes 5 de octubre a las 11:30 (CEST)." in text


# -- every start of a cycle: 4 h / 8 h for an urgent ticket ----------------------------------------


def test_urgent_ticket_reopened_by_an_agents_email_command(desk: Desk) -> None:
    number = urgent_ticket(desk)
    desk.clock.advance(hours=1)
    desk.cli(agent_actions.resolve, number)
    desk.clock.advance(hours=29)
    policy = ingest_policy(desk.settings).agents
    assert policy is not None
    reply_to = agent_reply_address(desk.ticket(number), ANA, policy)
    result = desk.receive(user_mail(f"Re: [#{number}]", "#open\n", desk.clock.now(), sender=ANA, to=reply_to))
    assert result.action == "agent"
    assert_new_urgent_cycle(desk.ticket(number), desk.clock.now())


def test_urgent_ticket_reopened_by_the_cli(desk: Desk) -> None:
    number = urgent_ticket(desk)
    desk.clock.advance(hours=1)
    desk.cli(agent_actions.resolve, number)
    desk.clock.advance(hours=29)
    desk.cli(agent_actions.reopen, number, "the user phoned back")
    assert_new_urgent_cycle(desk.ticket(number), desk.clock.now())


def test_urgent_ticket_reopened_by_a_missed_call(desk: Desk) -> None:
    number = urgent_ticket(desk)
    desk.clock.advance(hours=1)
    desk.cli(agent_actions.reply, number, "Ya está revocado; ¿necesita algo más?")
    assert desk.ticket(number).status == "pending"
    desk.clock.advance(hours=29)
    called = desk.clock.now() - timedelta(minutes=10)
    call = phone.CallRecord(started_at=called, outcome="lost", caller_email=USER, wait_seconds=120)
    queue = OutgoingQueue(desk.settings)
    with unit_of_work(desk.engine) as session:
        result = phone.record_call(session, call, now=desk.clock.now(), policy=phone_policy(desk.settings))
        for intent in result.outgoing:
            queue(session, intent, desk.clock.now())
    assert result.ticket_id == number and [i.kind for i in result.outgoing] == ["missed_call"]
    assert_new_urgent_cycle(desk.ticket(number), called)


def test_urgent_ticket_reopened_by_the_users_reply(desk: Desk) -> None:
    number = urgent_ticket(desk)
    desk.clock.advance(hours=1)
    desk.cli(agent_actions.resolve, number)
    desk.clock.advance(hours=29)
    result = desk.receive(user_mail(f"Re: [#{number}] Necesito revocar", "Sigue sin funcionar.", desk.clock.now()))
    assert (result.action, result.ticket_id) == ("followup", number)
    assert_new_urgent_cycle(desk.ticket(number), desk.clock.now())


def test_priority_raised_by_an_agent_moves_the_current_cycles_due_times(desk: Desk) -> None:
    desk.receive(user_mail("Duda sobre mi certificado", "¿Cuánto tarda la emisión?", T0))
    desk.clock.advance(hours=1)
    desk.cli(agent_actions.note, 1, "#priority urgent\nEl usuario tiene un juicio mañana.")
    ticket = desk.ticket(1)
    # Counted from the cycle's start, as the user waits since then: due 4 h / 8 h after arrival.
    assert (ticket.priority, ticket.cycle, ticket.cycle_started_at) == ("urgent", 1, T0)
    assert (ticket.response_due_at, ticket.hard_due_at) == (T0 + URGENT, T0 + HARD)
    desk.cli(agent_actions.note, 1, "#priority normal")
    ticket = desk.ticket(1)
    assert (ticket.response_due_at, ticket.hard_due_at) == (T0 + timedelta(hours=24), T0 + timedelta(hours=48))


def test_agent_notification_prints_the_tickets_own_targets(desk: Desk) -> None:
    urgent_ticket(desk)
    (notice,) = desk.texts("agent_notification")
    assert "límite de 8 h" in notice and "48 h" not in notice
