"""Agents by email end to end: the real Dovecot support mailbox in, the real aiosmtpd sink out (issue 4).

Every message the helpdesk reads is APPENDed to the support mailbox with a chosen INTERNALDATE
and taken by `make_poller(...).run_once()`; every message it writes leaves through
`make_drainer(...).run_once()` over SMTP to the sink. The agent's reply is built from the
notification bytes the sink captured, the way a mail client answers it, and goes back into
the mailbox; the user's next reply is built from the relayed answer at the sink. Nothing in
between is emulated. Runs on SQLite and PostgreSQL (the `engine` fixture).

What tests/integration/test_agents.py already covers without servers (commands one by one,
address tricks, Authentication-Results, HTML-only commands, the CLI) is not repeated here.
"""

import asyncio
import base64
import json
import quopri
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from itertools import count
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from config.settings import OutboundSettings, Settings
from tests.integration.dovecot import Dovecot
from tests.integration.smtp_sink import *  # noqa: F403  (the smtp_sink fixtures)
from tests.integration.smtp_sink import Received, SmtpSink
from tickets.clock import FakeClock, as_utc
from tickets.db import read_only
from tickets.models import Ticket
from ventanilla.app import App
from ventanilla.tickets_cli import app as tickets_app
from ventanilla.wiring import make_drainer, make_poller

# The embedded default configuration (config/default.toml) is what these tests run with.
SUPPORT = "soporte@ventanilla.example"
ANA, LUIS = "ana@ventanilla.example", "luis@ventanilla.example"
SUPERVISOR = "supervision@ventanilla.example"
MARIA, EVE = "maria@example.org", "eve@evil.example"
T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # a Monday, 11:00 in Madrid
REPLIES = Path(__file__).parent.parent / "data" / "replies"
FIRST_TEXT = "Hola, no puedo exportar mi certificado desde Firefox.\nMe sale un error de contraseña."
_ids = count(1)


# -- the desk: mailbox in, sink out -------------------------------------------------------------


@dataclass
class Desk:
    dovecot: Dovecot
    sink: SmtpSink
    settings: Settings
    engine: Engine
    clock: FakeClock
    seen: int = 0

    def arrive(self, raw: bytes, at: datetime) -> None:
        """Another MTA delivers `raw` into the support mailbox; INTERNALDATE = `at`."""
        self.dovecot.append("INBOX", raw, internaldate=at)

    def work(self, at: datetime) -> list[Received]:
        """One poll pass and one drain pass a minute after `at`; what reached the sink meanwhile."""
        self.clock.set(at + timedelta(minutes=1))
        poller = make_poller(App(self.settings, self.engine, self.clock))
        try:
            stats = poller.run_once()
        finally:
            poller.source.close()
        assert stats.processed >= 1, stats
        asyncio.run(_drain(self.settings, self.engine, self.clock))
        assert self.dovecot.uids("INBOX") == [], "the poller left mail in the support mailbox"
        new, self.seen = self.sink.received[self.seen :], len(self.sink.received)
        return new


async def _drain(settings: Settings, engine: Engine, clock: FakeClock) -> None:
    drainer = make_drainer(settings, engine, clock)
    try:
        stats = await drainer.run_once()
    finally:
        await drainer.transport.close()
    assert stats.failed == 0 and not stats.deferred, stats


@pytest.fixture
def desk(dovecot, imap_settings, smtp_sink, make_settings, db_url, engine, clock) -> Desk:  # type: ignore[no-untyped-def]
    outbound = OutboundSettings(kind="smtp", host="127.0.0.1", port=smtp_sink.port, security="none", timeout_seconds=5)
    settings = make_settings(db_url=db_url, inbox=imap_settings(), outbound=outbound)
    assert (settings.helpdesk.address, tuple(settings.helpdesk.agents)) == (SUPPORT, (ANA, LUIS))
    return Desk(dovecot, smtp_sink, settings, engine, clock)


# -- reading what the sink got ------------------------------------------------------------------


def kind_of(mail: Received) -> str:
    """Our Message-IDs read `<kind.ticket.unique@domain>` (kind without underscores)."""
    return str(mail.parsed()["Message-ID"]).strip("<>").split(".", 1)[0]


def ticket_of(mail: Received) -> int:
    return int(str(mail.parsed()["Message-ID"]).strip("<>").split(".")[1])


def to(mails: list[Received], address: str, kind: str | None = None) -> list[Received]:
    return [m for m in mails if address in m.rcpt_tos and kind in (None, kind_of(m))]


def only(mails: list[Received], address: str, kind: str) -> EmailMessage:
    found = to(mails, address, kind)
    assert len(found) == 1, [(m.rcpt_tos, kind_of(m)) for m in mails]
    assert found[0].rcpt_tos == (address,)
    return found[0].parsed()


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def html(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    return "" if part is None else str(part.get_content())


def answer_part(msg: EmailMessage) -> str:
    """The relayed text above the template's own "--" footer."""
    return plain(msg).split("\n--\n", 1)[0].strip()


def addr(header: object) -> str:
    return getaddresses([str(header)])[0][1].lower()


def show(engine: Engine, number: int) -> dict:  # type: ignore[type-arg]
    """`ventanilla tickets show N --json`, in process, on the test database."""
    result = CliRunner().invoke(tickets_app, ["show", str(number), "--json"], obj=SimpleNamespace(engine=engine))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def when(value: str | None) -> datetime | None:
    return None if value is None else as_utc(datetime.fromisoformat(value))


def event_kinds(data: dict) -> list[str]:  # type: ignore[type-arg]
    return [e["kind"] for e in data["events"]]


def ticket_ids(engine: Engine) -> list[int]:
    with read_only(engine) as session:
        return list(session.scalars(select(Ticket.id).order_by(Ticket.id)))  # type: ignore[arg-type]


# -- writing mail as people's clients do ------------------------------------------------------------


def new_mail(
    sender: str,
    text: str,
    at: datetime,
    *,
    rcpt: str = SUPPORT,
    subject: str = "No puedo exportar mi certificado",
    in_reply_to: str = "",
    references: str = "",
    extra: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = rcpt
    msg["Subject"] = subject
    msg["Date"] = format_datetime(at)
    msg["Message-ID"] = f"<c{next(_ids)}.{int(at.timestamp())}@{addr(sender).rpartition('@')[2] or 'x.example'}>"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = references or in_reply_to
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content(text)
    return bytes(msg)


def quote(original: EmailMessage) -> str:
    return "\n".join(("> " + line).rstrip() for line in plain(original).splitlines())


def thread_of(original: EmailMessage) -> tuple[str, str]:
    """(In-Reply-To, References) of a reply to `original`."""
    mid = str(original["Message-ID"])
    refs = " ".join(str(original["References"] or "").split() + [mid])
    return mid, refs


def press_reply(original: EmailMessage, sender: str, top: str, at: datetime, *, rcpt: str | None = None) -> bytes:
    """Reply in Gmail (es): new text on top, "El ... escribió:", the original quoted with `> `."""
    attribution = f"El lun, 5 oct 2026 a las 11:02, {original['From']} escribió:"
    mid, refs = thread_of(original)
    return new_mail(
        sender,
        f"{top}\n\n{attribution}\n\n{quote(original)}\n",
        at,
        rcpt=rcpt or str(original["Reply-To"] or original["From"]),
        subject="Re: " + str(original["Subject"]),
        in_reply_to=mid,
        references=refs,
    )


_CTE = {"gmail": "quoted-printable", "outlook": "base64", "thunderbird": "8bit", "apple": "quoted-printable"}


def client_reply(original: EmailMessage, sender: str, body: str, at: datetime, client: str) -> bytes:
    """A reply whose text/plain body is `body` exactly as the client wrote it, in its usual encoding."""
    data = body.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    cte = _CTE[client]
    if cte == "base64":
        payload = base64.encodebytes(data).replace(b"\n", b"\r\n")
    elif cte == "quoted-printable":
        payload = quopri.encodestring(data).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    else:
        payload = data
    mid, refs = thread_of(original)
    fmt = "; format=flowed" if client == "thunderbird" else ""
    head = (
        f"From: {_encoded('Ana Martín')} <{sender}>\r\nTo: {original['Reply-To']}\r\n"
        f"Subject: {_encoded('Re: ' + str(original['Subject']))}\r\nDate: {format_datetime(at)}\r\n"
        f"Message-ID: <{client}.{next(_ids)}@mail.ventanilla.example>\r\n"
        f"In-Reply-To: {mid}\r\nReferences: {refs}\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8{fmt}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode("ascii") + payload


def _encoded(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


# -- scenes shared by the tests ----------------------------------------------------------------------


@dataclass
class Opened:
    number: int
    user_mail: EmailMessage  # what María sent
    ack: EmailMessage
    to_ana: EmailMessage
    to_luis: EmailMessage


def open_ticket(desk: Desk, at: datetime = T0, text: str = FIRST_TEXT, sender: str = MARIA) -> Opened:
    before = set(ticket_ids(desk.engine))
    raw = new_mail(f"María García <{sender}>", text, at)
    desk.arrive(raw, at)
    sent = desk.work(at)
    (number,) = set(ticket_ids(desk.engine)) - before
    notes = [m.parsed() for m in to(sent, ANA, "agentnotification") + to(sent, LUIS, "agentnotification")]
    assert all(f"[#{number}]" in str(n["Subject"]) for n in notes)
    user_mail = message_from_bytes(raw, policy=email_policy.default)
    assert isinstance(user_mail, EmailMessage)
    opened = Opened(
        number,
        user_mail,
        only(sent, sender, "ack"),
        only(sent, ANA, "agentnotification"),
        only(sent, LUIS, "agentnotification"),
    )
    assert {r for m in sent for r in m.rcpt_tos} == {sender, ANA, LUIS}
    return opened


# -- 1. the full round trip ------------------------------------------------------------------------


ANA_TOP = (
    "#pending\n"
    "Hola María:\n\n"
    "Abra Firefox en el mismo equipo, vaya a Ajustes, Privacidad, Certificados\n"
    "y exporte la copia con una contraseña nueva.\n\n"
    "Un saludo,\nAna"
)
ANA_ANSWER = ANA_TOP.split("\n", 1)[1]


def test_full_round_trip_through_the_mailbox_and_the_sink(desk: Desk) -> None:
    t = open_ticket(desk)
    assert addr(t.ack["From"]) == SUPPORT and t.ack["In-Reply-To"] == t.user_mail["Message-ID"]
    # Each agent's notification carries the facts, the user's text and a Reply-To of its own.
    for note in (t.to_ana, t.to_luis):
        assert addr(note["From"]) == SUPPORT
        assert "no puedo exportar mi certificado" in plain(note) and MARIA in plain(note)
    ana_reply_to, luis_reply_to = addr(t.to_ana["Reply-To"]), addr(t.to_luis["Reply-To"])
    assert ana_reply_to.startswith("soporte+t") and ana_reply_to.endswith("@ventanilla.example")
    assert ana_reply_to != luis_reply_to and ana_reply_to not in plain(t.to_luis)

    # Ana presses Reply on the notification the sink got and writes on top.
    answered_at = T0 + timedelta(hours=2, minutes=7, seconds=13)
    raw = press_reply(t.to_ana, f"Ana Martín <{ANA}>", ANA_TOP, answered_at)
    assert addr(message_from_bytes(raw)["To"]) == ana_reply_to
    desk.arrive(raw, answered_at)
    desk.arrive(raw, answered_at + timedelta(minutes=3))  # the same reply delivered twice (an MTA retry)
    sent = desk.work(answered_at + timedelta(minutes=3))

    assert {r for m in sent for r in m.rcpt_tos} == {MARIA}, "only the user hears of it"
    (relayed_raw,) = to(sent, MARIA, "agentreply")
    relayed = relayed_raw.parsed()
    assert addr(relayed["From"]) == SUPPORT and ANA not in str(relayed["From"])
    assert ANA not in relayed_raw.mail_from and addr(relayed["Reply-To"]) == SUPPORT
    user_mid = str(t.user_mail["Message-ID"])
    assert relayed["In-Reply-To"] == user_mid and user_mid in str(relayed["References"]).split()
    assert str(relayed["Subject"]).startswith("Re: ") and f"[#{t.number}]" in str(relayed["Subject"])
    text = plain(relayed)
    assert answer_part(relayed) == ANA_ANSWER
    for leak in ("#pending", "escribió", "> ", "no puedo exportar", "soporte+t", "Solicitante", "Órdenes"):
        assert leak not in text, leak
        assert leak not in html(relayed), leak
    assert "exporte la copia con una contraseña nueva" in html(relayed)

    data = show(desk.engine, t.number)
    assert (data["status"], data["assigned_agent"]) == ("pending", ANA)
    assert data["first_answered_at"] == answered_at.isoformat()  # the INTERNALDATE of Ana's (first) copy
    assert {"agent-reply", "answered"} <= set(event_kinds(data))
    (kept,) = [m for m in data["messages"] if m["kind"] == "agent"]
    assert kept["text"].strip() == ANA_ANSWER and kept["from"] == ANA

    # María answers the relayed mail (the bytes the sink got): it goes to Ana only, a new cycle starts.
    again_at = T0 + timedelta(hours=5, seconds=41)
    user_top = "Gracias, Ana. Ya la tengo exportada, pero Chrome no la acepta al importarla."
    desk.arrive(press_reply(relayed, f"María García <{MARIA}>", user_top, again_at), again_at)
    sent = desk.work(again_at)
    assert [m.rcpt_tos for m in sent] == [(ANA,)]
    followup = only(sent, ANA, "agentnotification")
    assert f"[#{t.number}]" in str(followup["Subject"]) and user_top in plain(followup)
    assert ANA_ANSWER.splitlines()[2] not in plain(followup), "María's quote of Ana is not repeated to Ana"
    assert addr(followup["Reply-To"]) == ana_reply_to  # the same token: same ticket, same agent
    data = show(desk.engine, t.number)
    assert data["status"] == "open" and data["first_answered_at"] == answered_at.isoformat()
    assert when(data["response_due_at"]) > again_at  # the response clock restarted from María's reply
    with read_only(desk.engine) as session:
        ticket = session.get(Ticket, t.number)
        assert ticket is not None
        assert (ticket.cycle, as_utc(ticket.cycle_started_at)) == (2, again_at)
    assert "reopened" in event_kinds(data) and len(ticket_ids(desk.engine)) == 1
    assert len(desk.dovecot.uids("Processed")) == 4


# -- 2. replies the way each mail client writes them -------------------------------------------


def _command_lines(expected: str) -> tuple[list[str], str]:
    lines = expected.strip("\n").split("\n")
    commands = []
    while lines and lines[0].startswith("#"):
        commands.append(lines.pop(0))
    return commands, "\n".join(lines).strip()


CLIENT_SAMPLES = sorted(p.name[: -len(".txt")] for p in REPLIES.glob("*.txt") if not p.name.endswith(".expected.txt"))


@pytest.mark.parametrize("sample", CLIENT_SAMPLES)
def test_client_reply_reaches_the_user_without_the_quoted_part(desk: Desk, sample: str) -> None:
    client = sample.split("_", 1)[0]
    body = (REPLIES / f"{sample}.txt").read_bytes().decode("utf-8")
    commands, answer = _command_lines((REPLIES / f"{sample}.expected.txt").read_text(encoding="utf-8"))
    t = open_ticket(desk)
    at = T0 + timedelta(minutes=42)
    desk.arrive(client_reply(t.to_ana, ANA, body, at, client), at)
    sent = desk.work(at)

    relayed = only(sent, MARIA, "agentreply")
    assert addr(relayed["From"]) == SUPPORT and relayed["In-Reply-To"] == t.user_mail["Message-ID"]
    assert answer_part(relayed) == answer
    for part in (plain(relayed), html(relayed)):
        for leak in (
            "QUOTED-HISTORY",
            "#close",
            "wrote:",
            "escribió",
            "Original Message",
            "Mensaje original",
            "Sent from my",
            "Enviado desde",
            "soporte@ventanilla.example>",
            *commands,
        ):
            assert leak not in part, (leak, part)
    data = show(desk.engine, t.number)
    assert data["first_answered_at"] == at.isoformat()
    escalated = any(c.startswith("#escalate") for c in commands)
    assert data["status"] == ("escalated" if escalated else "pending")
    assert {"agent-reply", "answered"} <= set(event_kinds(data))
    if "#priority high" in commands:
        assert data["priority"] == "high"
    others = {r for m in sent for r in m.rcpt_tos} - {MARIA}
    assert others == ({SUPERVISOR} if escalated else set())
    if escalated:
        assert "registry team" in plain(only(sent, SUPERVISOR, "agentnotification"))


# -- 3. impostors through the real mailbox ------------------------------------------------------


def _other_ticket_token(desk: Desk, t: Opened, at: datetime) -> bytes:
    other = open_ticket(desk, at - timedelta(minutes=30), "Otra consulta: quiero renovar el certificado.", EVE)
    address = addr(t.to_ana["Reply-To"])
    moved = address.replace(f"+t{t.number}.", f"+t{other.number}.")
    assert moved != address
    return press_reply(t.to_ana, f"Ana Martín <{ANA}>", "#close\nListo, cerrada.", at, rcpt=moved)


def _one_character_changed(desk: Desk, t: Opened, at: datetime) -> bytes:
    local, _, domain = addr(t.to_ana["Reply-To"]).partition("@")
    flipped = local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain
    return press_reply(t.to_ana, f"Ana Martín <{ANA}>", "#close\nListo, cerrada.", at, rcpt=flipped)


def _no_token(desk: Desk, t: Opened, at: datetime) -> bytes:
    """Ana writes a fresh mail to the plain support address, the ticket only named in the subject."""
    return new_mail(
        f"Ana Martín <{ANA}>",
        "#close\nYa está resuelto.",
        at,
        subject=f"[#{t.number}] No puedo exportar mi certificado",
    )


def _luis_with_anas_token(desk: Desk, t: Opened, at: datetime) -> bytes:
    return press_reply(t.to_ana, f"Luis Gil <{LUIS}>", "#close\nLo cierro yo.", at)


def _user_forging_ana(desk: Desk, t: Opened, at: datetime) -> bytes:
    mid, refs = thread_of(t.ack)
    return new_mail(
        f"Ana Martín <{ANA}>",
        "#resolve\nCerrada por el agente.",
        at,
        subject="Re: " + str(t.ack["Subject"]),
        in_reply_to=mid,
        references=refs,
        extra={"Reply-To": MARIA, "Sender": MARIA},
    )


def _stranger_in_the_thread(desk: Desk, t: Opened, at: datetime, parent: str = "user") -> bytes:
    mid, refs = thread_of(t.user_mail if parent == "user" else t.ack)  # E43: María's own mail's id
    return new_mail(
        f"Eve <{EVE}>",
        "#close\nEnvíenme los datos del certificado, por favor.",
        at,
        subject="Re: " + str(t.ack["Subject"]),
        in_reply_to=mid,
        references=refs,
    )


def _stranger_answering_our_ack(desk: Desk, t: Opened, at: datetime) -> bytes:
    return _stranger_in_the_thread(desk, t, at, parent="ack")


def _stranger_at_anas_reply_address(desk: Desk, t: Opened, at: datetime) -> bytes:
    return press_reply(t.to_ana, f"Eve <{EVE}>", "#close\nEnvíenme los datos, por favor.", at)


Impostor = Callable[[Desk, Opened, datetime], bytes]
IMPOSTORS: dict[str, tuple[Impostor, str | None]] = {  # builder, who is alerted (None: nobody)
    "agent-from-without-token": (_no_token, ANA),
    "token-for-another-ticket": (_other_ticket_token, ANA),
    "another-agents-token": (_luis_with_anas_token, LUIS),
    "token-one-character-changed": (_one_character_changed, ANA),
    "user-forging-anas-from": (_user_forging_ana, ANA),
    "stranger-with-the-right-in-reply-to": (_stranger_in_the_thread, None),
    "stranger-answering-our-ack": (_stranger_answering_our_ack, None),
    "stranger-at-anas-reply-address": (_stranger_at_anas_reply_address, ANA),
}


@pytest.mark.parametrize("case", list(IMPOSTORS))
def test_impostor_changes_nothing_and_reaches_no_user(desk: Desk, case: str) -> None:
    build, alerted = IMPOSTORS[case]
    t = open_ticket(desk)
    at = T0 + timedelta(hours=1, minutes=13)
    raw = build(desk, t, at)
    tickets_before = ticket_ids(desk.engine)
    before = {n: show(desk.engine, n) for n in tickets_before}
    desk.arrive(raw, at)
    sent = desk.work(at)

    for number, old in before.items():  # no ticket changed state, nothing was sent on its behalf but an alert
        now = show(desk.engine, number)
        fields = ("status", "priority", "category", "assigned_agent", "first_answered_at", "response_due_at")
        assert {k: now[k] for k in fields} == {k: old[k] for k in fields}, number
        out = [m["kind"] for m in now["messages"][len(old["messages"]) :] if m["direction"] == "out"]
        assert set(out) <= {"command_error"}, out
    assert not to(sent, MARIA), "nothing reaches the user"
    assert all(kind_of(m) != "agentreply" for m in sent)
    assert not [m for m in sent if ticket_of(m) == t.number and kind_of(m) != "commanderror"]

    if alerted is None:  # E43: the stranger's mail becomes a ticket of its own, recorded there
        (new,) = set(ticket_ids(desk.engine)) - set(tickets_before)
        data = show(desk.engine, new)
        assert data["requester"]["email"] == EVE and "created" in event_kinds(data)
        assert data["status"] == "open" and data["linked_ticket_id"] is None
        if case == "stranger-answering-our-ack":  # a reply to a robot is never acknowledged (#12 item 10)
            assert not to(sent, EVE) and "ack-suppressed" in event_kinds(data)
            return
        eve_ack = only(sent, EVE, "ack")
        for secret in (FIRST_TEXT.split("\n")[1], MARIA, "María"):  # E43: the ack reveals nothing of #N
            assert secret not in plain(eve_ack) + html(eve_ack), secret
        assert len(show(desk.engine, t.number)["messages"]) == len(before[t.number]["messages"])
        assert ticket_of(to(sent, EVE)[0]) == new and f"[#{new}]" in str(eve_ack["Subject"])
        return
    assert ticket_ids(desk.engine) == tickets_before, "an impostor opens no ticket"
    refused = [
        (n, e) for n in tickets_before for e in show(desk.engine, n)["events"] if e["kind"] == "agent-unauthenticated"
    ]
    assert len(refused) == 1, refused
    target, event = refused[0]
    assert event["actor"] == addr(message_from_bytes(raw)["From"])
    assert target == (tickets_before[-1] if case == "token-for-another-ticket" else t.number)
    kept = [m for m in show(desk.engine, target)["messages"] if m["kind"] == "unverified"]
    assert len(kept) == 1 and "#" in kept[0]["text"]
    alert = only(sent, alerted, "commanderror")
    assert addr(alert["From"]) == SUPPORT and f"[#{target}]" in str(alert["Subject"])
    assert MARIA not in alert.get("To", "") and alert["Auto-Submitted"] == "auto-generated"
    assert {r for m in sent for r in m.rcpt_tos} == {alerted}


def test_agent_reply_that_lost_the_plus_address_is_not_proof_without_dkim(desk: Desk) -> None:
    """Ana's client answered the notification's From (the plain support address), not its Reply-To.

    In-Reply-To names her notification, but Message-IDs are in everyone's References (issue 12
    item 7): without `[agents] authserv_id` nothing vouches for her From, so nothing is relayed or
    changed, the attempt is kept on the ticket and Ana is told (with DKIM it counts, see
    test_agent_proof.py).
    """
    t = open_ticket(desk)
    at = T0 + timedelta(hours=1)
    desk.arrive(press_reply(t.to_ana, f"Ana Martín <{ANA}>", "Hola María, ya está.", at, rcpt=SUPPORT), at)
    sent = desk.work(at)
    assert not to(sent, MARIA) and {r for m in sent for r in m.rcpt_tos} == {ANA}
    assert "no reply token" in plain(only(sent, ANA, "commanderror"))
    data = show(desk.engine, t.number)
    assert data["status"] == "open" and "agent-unauthenticated" in event_kinds(data)
