"""The demo's second act: an agent answers by email, the user replies, and SLA clocks run out."""

import email
import email.policy
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy.engine import Engine
from sqlmodel import select

from config.settings import Settings
from scheduler.jobs import run_sla_sweep
from tickets.db import read_only
from tickets.models import Outbox, Ticket
from tickets.sla.sweep import SweepPolicy
from ventanilla.app import App


def _sent(engine: Engine, *, kind: str, ticket_id: int, to: str) -> EmailMessage | None:
    """The newest message of this kind we queued to `to` for the ticket, parsed."""
    with read_only(engine) as session:
        raw = session.scalars(
            select(Outbox.raw)
            .where(Outbox.kind == kind, Outbox.ticket_id == ticket_id, Outbox.recipients == to)
            .order_by(Outbox.id.desc())  # type: ignore[union-attr]
        ).first()
    if raw is None:
        return None
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def notified_agents(engine: Engine) -> list[tuple[int, str, list[str]]]:
    """(ticket, category, the agents notified about it so far), for every ticket."""
    with read_only(engine) as session:
        tickets = session.exec(select(Ticket.id, Ticket.category).order_by(Ticket.id)).all()  # type: ignore[arg-type]
        rows = session.exec(select(Outbox.ticket_id, Outbox.recipients).where(Outbox.kind == "agent_notification"))
        told: dict[int | None, set[str]] = {}
        for ticket_id, recipients in rows:
            told.setdefault(ticket_id, set()).add(recipients)
    return [(number, category, sorted(told.get(number, ()))) for number, category in tickets if number is not None]


def _reply(original: EmailMessage, *, sender: str, text: str, when: datetime) -> bytes:
    """What pressing Reply in a mail client produces: quoted original, thread headers."""
    body = original.get_body(("plain",))
    assert body is not None, "the demo's mail has a text part"
    quoted = "\n".join("> " + line for line in body.get_content().splitlines()[:12])
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = original["Reply-To"] or original["From"]
    reply["Subject"] = "Re: " + str(original["Subject"])
    reply["Date"] = format_datetime(when)
    reply["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].rstrip(">"))
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    reply.set_content(f"{text}\n\nEl {format_datetime(when)}, {original['From']} escribió:\n{quoted}\n")
    return bytes(reply)


def agent_answers(engine: Engine, settings: Settings, ticket_id: int, when: datetime) -> bytes | None:
    """Ana presses Reply on her notification, writes on top, and adds #pending."""
    agent = settings.helpdesk.agents[0]
    notification = _sent(engine, kind="agent_notification", ticket_id=ticket_id, to=agent)
    if notification is None:
        return None
    text = (
        "#pending\n"
        "Hola María:\n\n"
        "El código de solicitud solo sirve en el mismo equipo y navegador en que pidió el certificado.\n"
        "Abra Firefox en ese equipo, vaya a «Descargar certificado» e introduzca el NIF, el primer\n"
        "apellido y el código tal como le llegó por correo.\n\n"
        "Un saludo,\nAna"
    )
    return _reply(notification, sender=f"Ana Martín <{agent}>", text=text, when=when)


def user_replies(engine: Engine, ticket_id: int, requester: str, when: datetime) -> bytes | None:
    """María answers the agent's email in her own mail client."""
    answer = _sent(engine, kind="agent_reply", ticket_id=ticket_id, to=requester)
    if answer is None:
        return None
    text = "Gracias, Ana. Ya lo he descargado, pero ahora no sé cómo hacer una copia de seguridad."
    return _reply(answer, sender=f"María López <{requester}>", text=text, when=when)


def sla_sweeps(app: App, start: datetime, hours: tuple[int, ...]) -> list[tuple[int, list]]:
    """Sweeps at start + each hour mark: (hour, alerts fired) for each."""
    policy = SweepPolicy.from_settings(app.settings)
    return [(h, list(run_sla_sweep(app, now=start + timedelta(hours=h), policy=policy).alerts)) for h in hours]


def phone_follow_up(app: App, ticket_id: int, requester: str, when: datetime) -> int | None:
    """Luis helps the requester of a ticket on the phone; the call becomes an email to them."""
    from tickets.phone import calls as phone
    from ventanilla.phone_cli import phone_policy

    settings = app.settings
    call = phone.CallRecord(
        started_at=when,
        line="general",
        outcome="answered",
        wait_seconds=140,
        duration_seconds=420,
        caller_phone="+34 600 000 000",
        caller_email=requester,
        agent=settings.helpdesk.agents[-1],
        summary=(
            "Le explicamos que puede renovar el certificado por internet, desde el mismo navegador,"
            " antes de que caduque."
        ),
        ticket_id=ticket_id,
    )
    policy = phone_policy(settings)
    result = app.run(lambda session, at: phone.record_call(session, call, now=at, policy=policy), now=when)
    return result.ticket_id


def monthly_report_text(engine: Engine, settings: Settings, month: str, language: str) -> str:
    from mailer.report_render import render
    from tickets.report.queries import monthly_report

    with read_only(engine) as session:
        report = monthly_report(session, month=month, timezone=settings.calendar.timezone)
    return render(report, "text", language)
