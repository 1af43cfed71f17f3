"""What each kind of outgoing mail tells its template: one frozen value per kind.

The core fills them; `mailer/` renders them. Each field of a context is a template variable and
nested values are read by attribute (`ticket.id`). The shell adds `helpdesk`, `phone` and
`revocation` to every kind (ventanilla.pipeline.outgoing). Datetimes are aware: local to the service's time
zone where a person reads them, UTC strings where the template says so.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the views read a row; importing the models here would load SQLModel in the parser
    from tickets.models import Ticket


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketView:
    """The ticket as templates see it."""

    id: int
    subject: str
    status: str
    priority: str
    category: str
    assigned_agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    name: str
    email: str


def ticket_view(ticket: "Ticket") -> TicketView:
    return TicketView(
        id=ticket.id or 0,
        subject=ticket.subject,
        status=ticket.status,
        priority=ticket.priority,
        category=ticket.category,
        assigned_agent=ticket.assigned_agent,
    )


def requester_of(ticket: "Ticket") -> Person:
    return Person(name=ticket.requester_name, email=ticket.requester_email)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaqLink:
    title: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AckContext:
    """The acknowledgement: the reference and the ticket's own response target."""

    ticket: TicketView
    requester: Person
    response_hours: float  # the ticket's response target in SLA hours (working hours on the business clock)
    response_due_at: datetime  # when it falls due, in the service's time zone
    working_hours: bool  # the target counts opening hours only (sla.clock = "business")
    faq: tuple[FaqLink, ...] = ()  # FAQ entries that may answer the question (tickets.faq)
    revocation_first: bool = False  # a revocation request: the 24/7 revocation line comes first


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageView:
    sender: str
    name: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaView:
    """Where a ticket stands against its own targets, for an agent."""

    response_hours: float  # the ticket's targets by its priority
    hard_hours: float
    response_due_at: str  # "YYYY-MM-DD HH:MM UTC", "" when none
    hard_due_at: str
    response_hours_left: float | None
    hard_hours_left: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentNotificationContext:
    """A user's message, a note, an escalation or an assignment, told to an agent or supervisor."""

    ticket: TicketView
    requester: Person
    event: str  # "new" | "followup" | "note" | "escalated" | "assigned"
    message: MessageView
    sla: SlaView
    commands: tuple[str, ...]
    suggested: tuple[FaqLink, ...] = ()  # FAQ entries the acknowledgement already sent the user


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyView:
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentView:
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReplyContext:
    """An agent's answer relayed to the user."""

    ticket: TicketView
    requester: Person
    reply: ReplyView
    agent: AgentView


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandView:
    text: str
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandErrorContext:
    """What an agent sent was not applied."""

    ticket: TicketView
    requester: Person
    command: CommandView
    commands: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertView:
    """One SLA threshold reached; hours are the ticket's own targets."""

    key: str
    stage: str  # "warning" | "breach"
    limit: str  # "response" | "hard"
    threshold_hours: float
    due_at: datetime  # local
    fired_for: datetime  # local
    age_hours: float
    late_hours: float
    catch_up: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertItem:
    ticket: TicketView
    requester: Person
    alert: AlertView


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaAlertContext:
    """The alerts of one sweep for one recipient; with one ticket, its worst alert on top."""

    alerts: tuple[AlertItem, ...]
    ticket_count: int
    ticket: TicketView | None = None  # set when the alerts are about one ticket
    requester: Person | None = None
    alert: AlertView | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BreachItem:
    id: int
    subject: str
    threshold: str
    due_at: datetime  # local


@dataclass(frozen=True, slots=True, kw_only=True)
class DueItem:
    id: int
    subject: str
    due_at: datetime  # local


@dataclass(frozen=True, slots=True, kw_only=True)
class OverdueItem:
    id: int
    subject: str
    age_hours: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestView:
    day: date
    open: int
    pending: int
    escalated: int
    breached_yesterday: tuple[BreachItem, ...]
    due_today: tuple[DueItem, ...]
    overdue: tuple[OverdueItem, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestContext:
    """The supervisors' daily digest."""

    digest: DigestView


@dataclass(frozen=True, slots=True, kw_only=True)
class CallView:
    at: datetime  # local
    agent: str
    summary: str
    line: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneFollowupContext:
    """A phone call written down for the user."""

    ticket: TicketView
    requester: Person
    call: CallView


@dataclass(frozen=True, slots=True, kw_only=True)
class MissedCallContext:
    """A call we could not take; the user may answer in writing."""

    ticket: TicketView
    requester: Person
    call: CallView


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketClosedContext:
    """A resolved ticket closed after a quiet period."""

    ticket: TicketView
    requester: Person
    quiet_days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportContext:
    """The monthly report: figures already formatted for display (tickets.report.queries.display)."""

    report: Mapping[str, object]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryFailedContext:
    """Mail of a ticket the server refused for good (B22), told to its agent or the supervisors."""

    ticket: TicketView
    requester: Person
    mail_kind: str  # the kind of the mail not delivered: "ack", "agent_reply", ...
    recipients: tuple[str, ...]
    reply: str  # the server's answer


MailContext = (
    AckContext
    | AgentNotificationContext
    | AgentReplyContext
    | CommandErrorContext
    | SlaAlertContext
    | DigestContext
    | PhoneFollowupContext
    | MissedCallContext
    | TicketClosedContext
    | ReportContext
    | DeliveryFailedContext
)
CONTEXT_OF_KIND: Mapping[str, type] = {
    "ack": AckContext,
    "agent_notification": AgentNotificationContext,
    "agent_reply": AgentReplyContext,
    "command_error": CommandErrorContext,
    "sla_alert": SlaAlertContext,
    "digest": DigestContext,
    "phone_followup": PhoneFollowupContext,
    "missed_call": MissedCallContext,
    "ticket_closed": TicketClosedContext,
    "report": ReportContext,
    "delivery_failed": DeliveryFailedContext,
}


def template_values(context: MailContext) -> dict[str, object]:
    """The context's fields as template variables (nested values stay objects)."""
    return {f.name: getattr(context, f.name) for f in fields(context)}
