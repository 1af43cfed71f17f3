"""Representative template contexts, one per kind of mail, for tests and benchmarks.

`sample_context(kind, now)` is the typed value the core would put in an OutgoingEmail;
`sample_shared(now)` is what the shell adds to every kind (ventanilla.pipeline.outgoing); `sample_values`
is the two together, as the templates see them. Datetimes are aware and local to the
service calendar's zone.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from config.calendar import CalendarSettings
from tickets.agents.commands import HELP
from tickets.mail_context import (
    AckContext,
    AgentNotificationContext,
    AgentReplyContext,
    AgentView,
    AlertItem,
    AlertView,
    CallView,
    CommandErrorContext,
    CommandView,
    DeliveryFailedContext,
    DigestContext,
    DigestView,
    DueItem,
    FaqLink,
    MailContext,
    MessageView,
    MissedCallContext,
    OverdueItem,
    Person,
    PhoneFollowupContext,
    ReplyHeldContext,
    ReplyView,
    SlaAlertContext,
    SlaView,
    TicketClosedContext,
    TicketView,
    TooLargeContext,
    template_values,
)
from tickets.sla.calendar import service_lines

TICKET = TicketView(
    id=1234,
    subject="No puedo exportar mi certificado",
    status="open",
    priority="normal",
    category="export-import",
    assigned_agent="",
)
REQUESTER = Person(name="María García", email="maria@example.org")


def sample_shared(now: datetime) -> dict[str, object]:
    """The helpdesk and the phone lines as of `now`, as the shell adds them to every kind."""
    return {
        "helpdesk": {"name": "Soporte Ventanilla", "address": "soporte@ventanilla.example"},
        **service_lines(CalendarSettings(), now),
    }


def sample_context(kind: str, now: datetime) -> MailContext:
    """A representative typed context for `kind`, as the core builds it."""
    local = now.astimezone(ZoneInfo(CalendarSettings().timezone))
    call = CallView(at=local, agent="Luis", summary="Revisamos juntos...", line="general")
    builders = {
        "ack": lambda: AckContext(
            ticket=TICKET,
            requester=REQUESTER,
            response_hours=24,
            response_due_at=local + timedelta(hours=24),
            working_hours=False,
            faq=(FaqLink(title="Exportar un certificado", url="https://faq.example/export"),),
        ),
        "agent_notification": lambda: _notification(local),
        "agent_reply": lambda: AgentReplyContext(
            ticket=TICKET,
            requester=REQUESTER,
            reply=ReplyView(text="Hola María,\nsiga estos pasos..."),
            agent=AgentView(name="Ana"),
        ),
        "sla_alert": lambda: _alert(local),
        "digest": lambda: _digest(local),
        "phone_followup": lambda: PhoneFollowupContext(ticket=TICKET, requester=REQUESTER, call=call),
        "missed_call": lambda: MissedCallContext(ticket=TICKET, requester=REQUESTER, call=call),
        "command_error": lambda: CommandErrorContext(
            ticket=TICKET,
            requester=REQUESTER,
            command=CommandView(text="#assign nadie", error="nadie is not an agent"),
            commands=HELP,
        ),
        "ticket_closed": lambda: TicketClosedContext(ticket=TICKET, requester=REQUESTER, quiet_days=7),
        "delivery_failed": lambda: DeliveryFailedContext(
            ticket=TICKET,
            requester=REQUESTER,
            mail_kind="ack",
            recipients=(REQUESTER.email,),
            reply="550 5.1.1 <maria@example.org>: no such user",
        ),
        "too_large": lambda: TooLargeContext(
            subject="Capturas del error", name="María", size=31 * 1024 * 1024, limit=25 * 1024 * 1024
        ),
        "reply_held": lambda: ReplyHeldContext(
            ticket=TICKET,
            requester=REQUESTER,
            first=MessageView(sender="ana@ventanilla.example", name="Ana", text="Hola María,\nsiga estos pasos..."),
            first_at=local - timedelta(minutes=3),
            held=ReplyView(text="Hola María, pruebe a exportarlo de nuevo."),
            commands=HELP,
        ),
    }
    return builders[kind]()


def sample_values(kind: str, now: datetime) -> dict[str, object]:
    """What the template of `kind` sees: the shell's values and the typed context's fields."""
    return {**sample_shared(now), **template_values(sample_context(kind, now))}


def _notification(local: datetime) -> AgentNotificationContext:
    due = local + timedelta(hours=20)
    return AgentNotificationContext(
        ticket=TICKET,
        requester=REQUESTER,
        event="new",
        message=MessageView(sender=REQUESTER.email, name=REQUESTER.name, text="Hola,\nno puedo exportar."),
        sla=SlaView(
            response_hours=24,
            hard_hours=48,
            response_due_at=due,
            hard_due_at=due + timedelta(hours=24),
            response_hours_left=20.0,
            hard_hours_left=44.0,
        ),
        commands=HELP,
    )


def _alert(local: datetime) -> SlaAlertContext:
    alert = AlertView(
        key="warn-24h",
        stage="warning",
        limit="response",
        threshold_hours=24,
        due_at=local,
        fired_for=local - timedelta(hours=4),
        age_hours=22.5,
        late_hours=0.0,
        catch_up=False,
    )
    item = AlertItem(ticket=TICKET, requester=REQUESTER, alert=alert)
    return SlaAlertContext(alerts=(item,), ticket_count=1, ticket=TICKET, requester=REQUESTER, alert=alert)


def _digest(local: datetime) -> DigestContext:
    return DigestContext(
        digest=DigestView(
            day=local.date(),
            open=42,
            pending=7,
            escalated=1,
            breached_yesterday=(),
            due_today=(DueItem(id=1210, subject="Renovación urgente", due_at=local + timedelta(hours=3)),),
            overdue=(OverdueItem(id=1200, subject="Renovación", age_hours=30.0),),
        )
    )
