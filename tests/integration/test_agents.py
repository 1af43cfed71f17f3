"""Agents by email and CLI on a real database (SQLite and PostgreSQL): relay, commands, impostors.

The hooks in tickets.ingest.service are emulated by `Harness.deliver` (agent handling first, then the
normal ingest, then notifications), and mail is rendered and queued by the real
ventanilla.pipeline.outgoing.queue_outgoing with the Reply-To the intent asks for, so the agent's reply is
built from the notification exactly as a mail client would answer it.
"""

import email
import hashlib
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message as MimeMessage
from email.utils import getaddresses
from itertools import count

import pytest
from sqlalchemy import select

from config.agents import AgentSettings
from config.settings import HelpdeskSettings
from config.sla import SlaSettings
from mailer.parse import parse_message, policy_from_settings
from mailer.quotes import strip_reply
from mailer.templating import TemplateRenderer
from tickets import repository as repo
from tickets.agents import actions as agent_actions
from tickets.agents import service as agent_service
from tickets.agents.mail import agent_policy
from tickets.db import read_only, unit_of_work
from tickets.ingest import service
from tickets.models import Outbox, Ticket
from tickets.sla.policy import SlaPolicy
from tickets.values import IngestResult, ReceiptKey
from ventanilla.pipeline.outgoing import OutgoingQueue, queue_outgoing

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
SUPPORT, ANA, LUIS, BOSS = (
    "soporte@ventanilla.example",
    "ana@ventanilla.example",
    "luis@ventanilla.example",
    "jefa@ventanilla.example",
)
MARIA, PEPE, EVE = "maria@example.org", "pepe@example.org", "eve@evil.example"
OUR_MX = "mx.ventanilla.example"
HELPDESK = HelpdeskSettings(
    address=SUPPORT, agents=[ANA, LUIS], supervisors=[BOSS], secret="integration-secret-0123456789"
)
SLA = SlaPolicy.from_settings(SlaSettings())
_n = count(1)


class Harness:
    def __init__(self, engine, settings, agents: AgentSettings | None = None) -> None:  # type: ignore[no-untyped-def]
        self.engine = engine
        self.settings = settings
        self.parse_policy = policy_from_settings(settings)
        self.policy = agent_policy(HELPDESK, agents, sla=SLA)
        self.ingest_policy = service.IngestPolicy(helpdesk_address=SUPPORT, own_addresses=frozenset({SUPPORT}), sla=SLA)
        self.renderer = TemplateRenderer()
        self.queue = OutgoingQueue(settings, self.renderer)

    def deliver(self, raw: bytes, at: datetime) -> IngestResult:
        msg = parse_message(raw, self.parse_policy)
        html_only = not _has_plain(raw)
        with unit_of_work(self.engine) as session:
            result = agent_service.handle_agent_message(
                session,
                msg=msg,
                reply_text=strip_reply(msg.text),
                arrived_at=at,
                now=at,
                policy=self.policy,
                html_only=html_only,
            )
            outgoing = () if result is None else result.outgoing
            if result is None:
                key = ReceiptKey(mailbox="support", uidvalidity=1, uid=next(_n))
                result = service.ingest(
                    session, key=key, raw=raw, msg=msg, arrived_at=at, now=at, policy=self.ingest_policy
                )
                outgoing = result.outgoing
                if result.action in ("ticketed", "followup") and result.ticket_id is not None:
                    ticket = session.get(Ticket, result.ticket_id)
                    event = "new" if result.action == "ticketed" else "followup"
                    text = msg.text if event == "new" else strip_reply(msg.text)
                    outgoing += agent_service.notify_agents(
                        session, ticket, msg, at, self.policy, event=event, text=text
                    )
            for intent in outgoing:  # rendered as OutgoingQueue renders it, with the Reply-To the intent asks for
                queue_outgoing(
                    session,
                    intent,
                    values=self.queue.context(intent, at),
                    renderer=self.renderer,
                    helpdesk=self.settings.helpdesk,
                    reply_to=intent.reply_to or SUPPORT,
                    now=at,
                )
        return result

    def sent(self, kind: str | None = None, to: str | None = None) -> list[MimeMessage]:
        with read_only(self.engine) as session:
            rows = session.scalars(select(Outbox).order_by(Outbox.id)).all()
        found = [email.message_from_bytes(r.raw) for r in rows if kind in (None, r.kind)]
        return [m for m in found if to is None or to in m["To"]]

    def ticket(self, number: int) -> Ticket:
        with read_only(self.engine) as session:
            found = session.get(Ticket, number)
            assert found is not None
            return found

    def events(self, number: int) -> list[str]:
        with read_only(self.engine) as session:
            return [e.kind for e in repo.ticket_events(session, number)]


def _has_plain(raw: bytes) -> bool:
    return any(p.get_content_type() == "text/plain" for p in email.message_from_bytes(raw).walk())


def decode(value: object) -> str:
    return str(make_header(decode_header(str(value))))


def body_of(mail: MimeMessage, subtype: str = "plain") -> str:
    for part in mail.walk():
        if part.get_content_type() == f"text/{subtype}":
            return part.get_payload(decode=True).decode("utf-8")
    return ""


def mail(
    sender: str,
    text: str,
    *,
    to: str = SUPPORT,
    subject: str = "No puedo exportar mi certificado",
    in_reply_to: str = "",
    references: str = "",
    extra: str = "",
    html: str = "",
    cc: str = "",
) -> bytes:
    mid = f"<m{next(_n)}.{hashlib.sha1(text.encode()).hexdigest()[:8]}@client.example>"
    head = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n"
    head += "Date: Mon, 05 Oct 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    if in_reply_to:
        head += f"In-Reply-To: {in_reply_to}\r\nReferences: {references or in_reply_to}\r\n"
    head += extra + (f"Cc: {cc}\r\n" if cc else "")
    if html:
        return (head + f"Content-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n").encode()
    body = text.replace("\n", "\r\n")
    return (
        head + f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    ).encode()


def answer(notification: MimeMessage, sender: str, top: str, *, to: str | None = None, extra: str = "") -> bytes:
    """What Gmail sends when `sender` presses Reply on `notification` and writes `top`."""
    quoted = "\n".join("> " + line for line in body_of(notification).splitlines())
    text = f"{top}\n\nOn Mon, Oct 5, 2026 at 10:00 AM Soporte Ventanilla <{SUPPORT}> wrote:\n\n{quoted}"
    reply_to = getaddresses([notification["Reply-To"]])[0][1]
    refs = f"{notification['References'] or ''} {notification['Message-ID']}".strip()
    return mail(
        sender,
        text,
        to=to or reply_to,
        subject="Re: " + str(notification["Subject"]),
        in_reply_to=notification["Message-ID"],
        references=refs,
        extra=extra,
    )


@pytest.fixture
def harness(engine, db_url, make_settings) -> Harness:  # type: ignore[no-untyped-def]
    return Harness(engine, make_settings(db_url=db_url, helpdesk=HELPDESK))


def open_ticket(h: Harness, text: str = "Hola, no puedo exportar mi certificado.", **kw) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    raw = mail(MARIA, text, **kw)
    result = h.deliver(raw, T0)
    assert result.action == "ticketed" and result.ticket_id is not None
    return result.ticket_id, raw


def notification_for(h: Harness, agent: str, ticket_id: int) -> MimeMessage:
    found = [m for m in h.sent("agent_notification", agent) if f"[#{ticket_id}]" in str(m["Subject"])]
    assert found, f"no notification to {agent}"
    return found[-1]


def user_mail_count(h: Harness, user: str = MARIA) -> int:
    return len([m for m in h.sent(to=user) if "agent_reply" in str(m["Message-ID"]) or m["Subject"].startswith("Re:")])


# -- the round trip ---------------------------------------------------------------------------


def test_round_trip_user_ack_notification_agent_reply_user_reply(harness: Harness) -> None:
    number, first = open_ticket(harness, cc=PEPE)
    ack = harness.sent("ack", MARIA)
    assert len(ack) == 1
    to_ana, to_luis = notification_for(harness, ANA, number), notification_for(harness, LUIS, number)
    assert to_ana["Reply-To"] != to_luis["Reply-To"] and "soporte+t" in to_ana["Reply-To"]
    assert "no puedo exportar" in body_of(to_ana)

    answered_at = T0 + timedelta(hours=2)
    result = harness.deliver(answer(to_ana, f"Ana <{ANA}>", "#pending\n\nHola María, pruebe así: ..."), answered_at)
    assert result.action == "agent"

    replies = harness.sent("agent_reply", MARIA)
    assert len(replies) == 1
    reply = replies[0]
    assert PEPE in reply["To"]  # the user's CC is kept on the ticket and gets the answer
    assert getaddresses([reply["From"]])[0][1] == SUPPORT and ANA not in str(reply["From"])
    user_mid = email.message_from_bytes(first)["Message-ID"]
    assert reply["In-Reply-To"] == user_mid and user_mid in reply["References"]
    text = body_of(reply)
    assert "Hola María, pruebe así" in text
    assert "wrote:" not in text and "no puedo exportar" not in text and "#pending" not in text
    t = harness.ticket(number)
    assert (t.status, t.first_answered_at, t.assigned_agent) == ("pending", answered_at, ANA)
    assert {"agent-reply", "answered"} <= set(harness.events(number))

    # The user's answer comes back to the agent who answered, in the same ticket, with a new clock.
    again_at = T0 + timedelta(hours=5)
    back = harness.deliver(
        mail(MARIA, "Sigue sin funcionar.", subject="Re: " + str(reply["Subject"]), in_reply_to=reply["Message-ID"]),
        again_at,
    )
    assert (back.action, back.ticket_id) == ("followup", number)
    t = harness.ticket(number)
    assert (t.status, t.cycle, t.cycle_started_at) == ("open", 2, again_at)
    followups = [m for m in harness.sent("agent_notification") if "Sigue sin funcionar" in body_of(m)]
    assert [m["To"] for m in followups] == [ANA]


@pytest.mark.parametrize(
    "sample", ["gmail_es", "gmail_en", "outlook_es", "outlook_en", "thunderbird_es", "thunderbird_en", "apple_es"]
)
def test_client_replies_reach_the_user_without_quotes(harness: Harness, sample: str) -> None:
    from tests.unit.test_quotes import REPLIES

    number, _ = open_ticket(harness)
    note = notification_for(harness, ANA, number)
    body = (REPLIES / f"{sample}.txt").read_bytes().decode()
    raw = mail(ANA, body, to=getaddresses([note["Reply-To"]])[0][1], in_reply_to=note["Message-ID"])
    assert harness.deliver(raw, T0 + timedelta(hours=1)).action == "agent"
    sent = harness.sent("agent_reply", MARIA)
    assert len(sent) == 1
    text = body_of(sent[0])
    assert "QUOTED-HISTORY" not in text and "#close" not in text and "soporte@" not in text.split("--")[0]


# -- impostors (RELIABILITY E43-E51) ----------------------------------------------------------


def _tamper(address: str) -> str:
    local, _, domain = address.partition("@")
    return local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain


def assert_refused(h: Harness, number: int, result: IngestResult, *, alerted: str = ANA) -> None:
    assert result.action == "agent-refused" and result.ticket_id == number
    t = h.ticket(number)
    assert t.status == "open" and t.first_answered_at is None
    assert h.sent("agent_reply") == []
    assert "agent-unauthenticated" in h.events(number)
    alerts = h.sent("command_error", alerted)
    assert len(alerts) == 1 and getaddresses([alerts[0]["To"]])[0][1] == alerted


def test_agent_from_without_token_is_refused(harness: Harness) -> None:
    number, _ = open_ticket(harness)
    note = notification_for(harness, ANA, number)
    # Someone writing as Ana with no token in the address (and no [agents] authserv_id, so the
    # thread's Message-IDs could not count either).
    forged = mail(ANA, "#close\nListo.", subject=f"Re: [#{number}] {note['Subject']}")
    result = harness.deliver(forged, T0 + timedelta(hours=1))
    assert_refused(harness, number, result)


def test_token_changed_to_another_ticket_or_one_character_is_refused(harness: Harness) -> None:
    number, _ = open_ticket(harness)
    other, _ = open_ticket(harness, "Otra consulta distinta")
    note = notification_for(harness, ANA, number)
    address = getaddresses([note["Reply-To"]])[0][1]
    moved = address.replace(f"+t{number}.", f"+t{other}.")
    result = harness.deliver(answer(note, ANA, "#close\nListo.", to=moved), T0 + timedelta(hours=1))
    assert result.action == "agent-refused" and harness.ticket(other).status == "open"
    flipped = harness.deliver(answer(note, ANA, "#close\nListo.", to=_tamper(address)), T0 + timedelta(hours=2))
    assert flipped.action == "agent-refused"
    assert harness.ticket(number).status == "open" and harness.sent("agent_reply") == []


def test_another_agents_token_is_refused(harness: Harness) -> None:
    number, _ = open_ticket(harness)
    note_for_ana = notification_for(harness, ANA, number)
    result = harness.deliver(answer(note_for_ana, LUIS, "#close\nListo."), T0 + timedelta(hours=1))
    assert_refused(harness, number, result, alerted=LUIS)


@pytest.mark.parametrize(
    "from_header",
    [EVE, f'"{ANA}" <{EVE}>', f"ana@evil.org@{ANA.split('@')[1]}", f"{ANA})<{EVE}>"],
)
def test_someone_else_using_an_agents_reply_address_is_refused_and_the_agent_told(
    harness: Harness, from_header: str
) -> None:
    number, _ = open_ticket(harness)
    note = notification_for(harness, ANA, number)
    result = harness.deliver(answer(note, from_header, "#close\nDatos por favor."), T0 + timedelta(hours=1))
    if result.action == "quarantined":  # an unparseable From never gets this far
        return
    assert_refused(harness, number, result)


def test_user_forging_an_agent_from_changes_nothing(harness: Harness) -> None:
    number, first = open_ticket(harness)
    mid = email.message_from_bytes(first)["Message-ID"]
    forged = mail(ANA, "#close\nCerrado.", in_reply_to=mid, extra=f"Reply-To: {MARIA}\r\nSender: {MARIA}\r\n")
    assert_refused(harness, number, harness.deliver(forged, T0 + timedelta(hours=1)))


def test_reply_to_or_sender_of_an_agent_does_not_make_an_agent(harness: Harness) -> None:
    number, first = open_ticket(harness)
    mid = email.message_from_bytes(first)["Message-ID"]
    raw = mail(EVE, "#close", in_reply_to=mid, extra=f"Reply-To: {ANA}\r\nSender: {ANA}\r\n")
    result = harness.deliver(raw, T0 + timedelta(hours=1))
    assert result.action == "ticketed" and result.ticket_id != number
    assert harness.ticket(number).status == "open"


def test_stranger_with_the_right_in_reply_to_gets_a_ticket_of_their_own(harness: Harness) -> None:
    number, first = open_ticket(harness)
    note = notification_for(harness, ANA, number)
    ack = harness.sent("ack", MARIA)[0]
    user_mid = email.message_from_bytes(first)["Message-ID"]
    for parent in (note["Message-ID"], ack["Message-ID"], user_mid):
        result = harness.deliver(mail(EVE, "#close\ndame los datos", in_reply_to=parent), T0 + timedelta(hours=1))
        assert result.action == "ticketed" and result.ticket_id != number
    assert harness.ticket(number).status == "open"
    # A reply to our notification or ack answers a robot: never acknowledged (issue 12 item 10);
    # the one to María's own message is, and that ack reveals nothing of her ticket (E43).
    eve_acks = harness.sent("ack", EVE)
    assert len(eve_acks) == 1 and all("no puedo exportar" not in body_of(m) for m in eve_acks)


def test_commands_in_a_customer_mail_are_text(harness: Harness) -> None:
    number, first = open_ticket(harness)
    mid = email.message_from_bytes(first)["Message-ID"]
    result = harness.deliver(mail(MARIA, "#close\n#assign eve@evil.example", in_reply_to=mid), T0 + timedelta(hours=1))
    assert result.action == "followup"
    t = harness.ticket(number)
    assert (t.status, t.assigned_agent) == ("open", "")


def test_commands_only_in_html_are_not_applied(harness: Harness) -> None:
    number, _ = open_ticket(harness)
    note = notification_for(harness, ANA, number)
    raw = mail(
        ANA,
        "",
        to=getaddresses([note["Reply-To"]])[0][1],
        in_reply_to=note["Message-ID"],
        html="<p>#close</p><p>Listo</p>",
    )
    result = harness.deliver(raw, T0 + timedelta(hours=1))
    assert result.action == "agent"
    assert harness.ticket(number).status == "open" and harness.sent("agent_reply") == []
    assert len(harness.sent("command_error", ANA)) == 1


def test_authentication_results_required_topmost_ours_only(engine, db_url, make_settings) -> None:
    h = Harness(engine, make_settings(db_url=db_url, helpdesk=HELPDESK), AgentSettings(authserv_id=OUR_MX))
    number, _ = open_ticket(h)
    note = notification_for(h, ANA, number)
    forged_below = (
        f"Authentication-Results: {OUR_MX}; dkim=fail; dmarc=fail\r\n"
        f"Authentication-Results: {OUR_MX}; dkim=pass header.d=ventanilla.example; dmarc=pass\r\n"
    )
    result = h.deliver(answer(note, ANA, "#close\nListo.", extra=forged_below), T0 + timedelta(hours=1))
    assert_refused(h, number, result)
    good = f"Authentication-Results: {OUR_MX}; dkim=pass header.d=ventanilla.example; dmarc=pass\r\n"
    assert h.deliver(answer(note, ANA, "Ya está.", extra=good), T0 + timedelta(hours=2)).action == "agent"
    assert h.ticket(number).status == "pending"


def test_agent_out_of_office_is_ignored(harness: Harness) -> None:
    number, _ = open_ticket(harness)
    note = notification_for(harness, ANA, number)
    raw = answer(note, ANA, "I am out of office", extra="Auto-Submitted: auto-replied\r\n")
    assert harness.deliver(raw, T0 + timedelta(hours=1)).action == "ignored"
    assert harness.sent("agent_reply") == [] and harness.ticket(number).status == "open"


# -- commands -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "status", "user_mail"),
    [
        ("#pending", "pending", False),
        ("#open\nWe keep working on it.", "open", True),
        ("#escalate needs registry\nWe passed it on.", "escalated", True),
        ("#resolve\nDone, I think.", "resolved", True),
        ("#close", "closed", False),
        ("Just an answer", "pending", True),
    ],
)
def test_status_commands(harness: Harness, top: str, status: str, user_mail: bool) -> None:
    number, _ = open_ticket(harness)
    result = harness.deliver(answer(notification_for(harness, ANA, number), ANA, top), T0 + timedelta(hours=1))
    assert result.action == "agent"
    assert harness.ticket(number).status == status
    assert len(harness.sent("agent_reply", MARIA)) == int(user_mail)
    if status == "escalated":
        alerts = harness.sent("agent_notification", BOSS)
        assert len(alerts) == 1 and "needs registry" in body_of(alerts[0])


def test_note_never_reaches_the_user_and_other_agents_are_told(harness: Harness) -> None:
    number, _ = open_ticket(harness)
    top = "#note\nShe called; the browser is old."
    harness.deliver(answer(notification_for(harness, ANA, number), ANA, top), T0 + timedelta(hours=1))
    assert harness.sent("agent_reply") == [] and harness.ticket(number).status == "open"
    told = [m for m in harness.sent("agent_notification", LUIS) if "browser is old" in body_of(m)]
    assert len(told) == 1 and not [m for m in harness.sent(to=MARIA) if "browser is old" in body_of(m)]


def test_combined_fields_and_assign(harness: Harness) -> None:
    number, _ = open_ticket(harness)
    top = f"#assign {LUIS}\n#priority urgent\n#category general\n#pending\nLe llamamos hoy."
    harness.deliver(answer(notification_for(harness, ANA, number), ANA, top), T0 + timedelta(hours=1))
    t = harness.ticket(number)
    assert (t.assigned_agent, t.priority, t.category, t.status) == (LUIS, "urgent", "general", "pending")
    assert any("asignada a usted" in decode(m["Subject"]).lower() for m in harness.sent("agent_notification", LUIS))
    assert {"assigned", "priority", "agent-reply"} <= set(harness.events(number))


@pytest.mark.parametrize("top", ["#frobnicate\nHola", f"#assign {EVE}\nHola", "#pending\n#close\nHola"])
def test_bad_commands_send_nothing_to_the_user_and_tell_the_agent(harness: Harness, top: str) -> None:
    number, _ = open_ticket(harness)
    harness.deliver(answer(notification_for(harness, ANA, number), ANA, top), T0 + timedelta(hours=1))
    t = harness.ticket(number)
    assert (t.status, t.assigned_agent) == ("open", "")
    assert harness.sent("agent_reply") == []
    errors = harness.sent("command_error", ANA)
    assert len(errors) == 1 and "#pending" in body_of(errors[0])
    assert "command-rejected" in harness.events(number)


# -- CLI equivalents -------------------------------------------------------------------------


def test_cli_functions_use_the_same_rules(harness: Harness) -> None:
    number, _ = open_ticket(harness)
    policy = harness.policy
    steps = [
        (agent_actions.note, "internal", "open"),
        (agent_actions.assign, LUIS, "open"),
        (agent_actions.reply, "Hola María", "pending"),
        (agent_actions.escalate, "needs registry", "escalated"),
        (agent_actions.resolve, "", "resolved"),
        (agent_actions.reopen, "she wrote by phone", "open"),
        (agent_actions.close, "Cerramos la consulta.", "closed"),
    ]
    for i, (action, text, status) in enumerate(steps):
        with unit_of_work(harness.engine) as session:
            outgoing = action(session, number, ANA, text, T0 + timedelta(hours=i + 1), policy)
        assert harness.ticket(number).status == status, action.__name__
        assert all(o.to != (MARIA,) for o in outgoing) or action in (agent_actions.reply, agent_actions.close)
    t = harness.ticket(number)
    assert t.cycle == 2 and t.assigned_agent == LUIS
    with unit_of_work(harness.engine) as session, pytest.raises(agent_actions.AgentActionError):
        agent_actions.reply(session, number, EVE, "hola", T0, policy)
    with unit_of_work(harness.engine) as session, pytest.raises(agent_actions.AgentActionError):
        agent_actions.reply(session, number, ANA, "#frobnicate\nhola", T0, policy)
