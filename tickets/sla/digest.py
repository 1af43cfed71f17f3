"""SLA views: every ticket waiting for us with its time left, and the supervisors' daily digest."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from tickets.ingest.rules import OPEN_STATUSES
from tickets.mail_context import BreachItem, DigestContext, DigestView, DueItem, OverdueItem
from tickets.models import Ticket
from tickets.sla.policy import is_answered
from tickets.sla.sweep import SweepPolicy, alerts_between, count_by_status
from tickets.values import OutgoingEmail

BREACHES = ("breach-24h", "breach-48h")


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketClock:
    """Where one waiting ticket stands against its SLA at `now`."""

    ticket_id: int
    subject: str
    requester: str
    priority: str
    status: str
    assigned_agent: str
    cycle: int
    waited_hours: float  # wall-clock hours since the cycle started
    sla_hours: float  # hours on the SLA clock since the cycle started
    next_threshold: str  # the next threshold to fire, "" when all fired
    next_at: datetime | None
    deadline: datetime  # the response due time, or the hard one once the response is late
    left_hours: float  # deadline - now in hours; negative once late

    def as_dict(self) -> dict[str, object]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in out.items()}


def waiting_tickets(session: Session, *, until: datetime | None = None, limit: int | None = 1000) -> list[Ticket]:
    """Open and escalated tickets by response due time (index `ix_ticket_status_due`; limit None = all)."""
    query = select(Ticket).where(col(Ticket.status).in_(OPEN_STATUSES))
    if until is not None:
        query = query.where(col(Ticket.response_due_at) <= until)
    return list(session.scalars(query.order_by(col(Ticket.response_due_at)).limit(limit)))


def ticket_clock(ticket: Ticket, now: datetime, policy: SweepPolicy) -> TicketClock:
    thresholds = policy.sla.thresholds(ticket.priority, ticket.cycle_started_at)
    upcoming = [t for t in thresholds if t.at > now]
    breach_24h, breach_48h = thresholds[1].at, thresholds[3].at
    deadline = breach_24h if now < breach_24h else breach_48h
    return TicketClock(
        ticket_id=ticket.id or 0,
        subject=ticket.subject,
        requester=ticket.requester_email,
        priority=ticket.priority,
        status=ticket.status,
        assigned_agent=ticket.assigned_agent,
        cycle=ticket.cycle,
        waited_hours=(now - ticket.cycle_started_at).total_seconds() / 3600,
        sla_hours=policy.sla.elapsed_hours(ticket.cycle_started_at, now),
        next_threshold=upcoming[0].key if upcoming else "",
        next_at=upcoming[0].at if upcoming else None,
        deadline=deadline,
        left_hours=(deadline - now).total_seconds() / 3600,
    )


def sla_status(
    session: Session, *, now: datetime, policy: SweepPolicy, limit: int | None = 1000
) -> list[TicketClock]:
    """Every ticket waiting for an answer, least time left first."""
    clocks = [
        ticket_clock(t, now, policy)
        for t in waiting_tickets(session, limit=limit)
        if not is_answered(status=t.status, cycle_started_at=t.cycle_started_at, first_answered_at=t.first_answered_at)
    ]
    return sorted(clocks, key=lambda c: (c.deadline, c.ticket_id))


def _local_midnight(day: date, policy: SweepPolicy) -> datetime:
    return datetime.combine(day, time(0), tzinfo=policy.sla.zone)


def digest_view(session: Session, *, now: datetime, policy: SweepPolicy) -> DigestView:
    """Counts, what breached yesterday, what will breach before midnight, what is overdue."""
    zone = policy.sla.zone
    today = now.astimezone(zone).date()
    start, end = _local_midnight(today, policy), _local_midnight(today + timedelta(days=1), policy)
    counts = count_by_status(session, ("open", "pending", "escalated"))
    breached = tuple(
        BreachItem(
            id=ticket.id or 0, subject=ticket.subject, threshold=alert.threshold, due_at=alert.due_at.astimezone(zone)
        )
        for alert, ticket in alerts_between(session, start - timedelta(days=1), start, BREACHES)
    )
    clocks = sla_status(session, now=now, policy=policy)
    due_today = tuple(
        DueItem(id=c.ticket_id, subject=c.subject, due_at=c.deadline.astimezone(zone))
        for c in clocks
        if now <= c.deadline < end
    )
    overdue = [
        OverdueItem(id=c.ticket_id, subject=c.subject, age_hours=c.waited_hours) for c in clocks if c.left_hours < 0
    ]
    return DigestView(
        day=today,
        open=counts.get("open", 0),
        pending=counts.get("pending", 0),
        escalated=counts.get("escalated", 0),
        breached_yesterday=breached,
        due_today=due_today,
        overdue=tuple(overdue[:50]),
    )


def daily_digest(session: Session, *, now: datetime, policy: SweepPolicy) -> tuple[OutgoingEmail, ...]:
    """One digest per supervisor, keyed by local date so a second run the same day sends nothing."""
    context = DigestContext(digest=digest_view(session, now=now, policy=policy))
    day = now.astimezone(policy.sla.zone).date().isoformat()
    return tuple(
        OutgoingEmail(
            kind="digest",
            ticket_id=None,
            to=(supervisor,),
            idempotency_key=f"digest:{day}:{supervisor}"[:300],
            language=policy.language,
            auto_submitted="auto-generated",
            context=context,
        )
        for supervisor in policy.supervisors
    )
