"""SLA use cases: the sweep, the daily digest and the status view. The caller's unit of work commits.

The sweep reads only tickets whose stored response due time is within the warning horizon
(index `ix_ticket_status_due`), so its cost grows with the tickets that are due, not with
all tickets. Each alert is inserted with ON CONFLICT DO NOTHING on the UNIQUE key
(ticket, cycle, threshold); only alerts this sweep inserted are mailed, so a restart, a
clock jump or a second worker cannot repeat one.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlmodel import Session, col

from config.settings import Settings
from tickets import threads
from tickets.agents.mail import routing_of
from tickets.agents.routing import Routing, told_on_escalation
from tickets.ingest.rules import OPEN_STATUSES
from tickets.inserts import insert_ignore_statement
from tickets.mail_context import AlertItem, AlertView, SlaAlertContext, requester_of, ticket_view
from tickets.models import Message, Ticket
from tickets.sla.models import SlaAlert
from tickets.sla.policy import SlaPolicy, Threshold, display_hours, is_answered
from tickets.values import OutgoingEmail

logger = logging.getLogger(__name__)
CHUNK = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepPolicy:
    """What the sweep and the digest depend on: the SLA policy and who is told."""

    sla: SlaPolicy
    supervisors: tuple[str, ...]
    language: str = "es"
    notify_agents: bool = True
    resolved_quiet: timedelta = timedelta(days=7)  # a resolved ticket closes after this long untouched
    routing: Routing = Routing()  # round-robin: the ticket's group hears of the escalation at the hard limit

    @classmethod
    def from_settings(cls, settings: Settings) -> "SweepPolicy":
        return cls(
            sla=SlaPolicy.from_settings(settings.sla, settings.calendar.timezone),
            supervisors=tuple(settings.helpdesk.supervisors),
            language=settings.helpdesk.language,
            resolved_quiet=timedelta(days=settings.scheduler.resolved_close_days),
            routing=routing_of(settings.agents),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FiredAlert:
    """One alert this sweep inserted."""

    alert_id: int
    ticket_id: int
    cycle: int
    threshold: Threshold
    late: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepResult:
    """What one sweep did; `outgoing` is for the shell to queue in the same transaction."""

    now: datetime
    candidates: int = 0
    alerts: tuple[FiredAlert, ...] = ()
    escalated: tuple[int, ...] = ()
    outgoing: tuple[OutgoingEmail, ...] = ()
    skipped: bool = False  # another worker holds the sweep lock


def due_candidates(session: Session, horizon: datetime) -> list[Ticket]:
    """Waiting tickets whose response due time is at or before `horizon` and not fully alerted."""
    done = exists().where(
        col(SlaAlert.ticket_id) == col(Ticket.id),
        col(SlaAlert.cycle) == col(Ticket.cycle),
        col(SlaAlert.threshold) == "breach-48h",
    )
    query = (
        select(Ticket)
        .where(col(Ticket.status).in_(OPEN_STATUSES), col(Ticket.response_due_at) <= horizon, ~done)
        .order_by(col(Ticket.response_due_at))
    )
    return list(session.scalars(query))


def fired_keys(session: Session, tickets: Sequence[Ticket]) -> set[tuple[int, int, str]]:
    """The (ticket, cycle, threshold) keys already alerted among these tickets."""
    found: set[tuple[int, int, str]] = set()
    ids = [t.id for t in tickets if t.id is not None]
    for start in range(0, len(ids), CHUNK):
        query = select(col(SlaAlert.ticket_id), col(SlaAlert.cycle), col(SlaAlert.threshold)).where(
            col(SlaAlert.ticket_id).in_(ids[start : start + CHUNK])
        )
        found.update((t, c, k) for t, c, k in session.execute(query))
    return found


def insert_alerts(session: Session, due: Sequence[tuple[Ticket, Threshold]], now: datetime) -> list[FiredAlert]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING, CHUNK rows a statement: the alerts this call
    inserted, in the order of `due` (one another sweep inserted first is not among them)."""
    if not due:
        return []
    if session.new or session.dirty:
        session.flush()
    insert = insert_ignore_statement(SlaAlert, session.get_bind().dialect.name)
    table = SlaAlert.__table__  # type: ignore[attr-defined]
    returning = (table.c.id, table.c.ticket_id, table.c.cycle, table.c.threshold)
    added: dict[tuple[int, int, str], int] = {}
    for start in range(0, len(due), CHUNK):
        rows = [
            {
                "ticket_id": ticket.id,
                "cycle": ticket.cycle,
                "threshold": threshold.key,
                "due_at": threshold.at,
                "fired_at": now,
                "late_seconds": max(0, int((now - threshold.at).total_seconds())),
            }
            for ticket, threshold in due[start : start + CHUNK]
        ]
        statement = insert.values(rows).returning(*returning)
        added.update(((t, c, k), alert_id) for alert_id, t, c, k in session.connection().execute(statement))
    return [
        FiredAlert(
            alert_id=alert_id, ticket_id=ticket.id, cycle=ticket.cycle, threshold=threshold, late=now - threshold.at
        )
        for ticket, threshold in due
        if ticket.id is not None and (alert_id := added.get((ticket.id, ticket.cycle, threshold.key))) is not None
    ]


def sweep(session: Session, *, now: datetime, policy: SweepPolicy) -> SweepResult:
    """Fire every threshold reached by `now` and not yet alerted; escalate at the hard limit.

    The alerts are inserted a few hundred per statement, and their events in one: a backlog that
    comes in late (after an outage) fires thousands at once."""
    tickets = due_candidates(session, policy.sla.horizon(now))
    seen = fired_keys(session, tickets)
    due = [(ticket, threshold) for ticket in tickets for threshold in thresholds_due(ticket, now, policy, seen)]
    fired = insert_alerts(session, due, now)
    history = threads.ThreadBuffer()
    for alert in fired:
        late = alert.late
        detail = (
            f"cycle {alert.cycle}; due {alert.threshold.at.isoformat()}; late {int(late.total_seconds() // 60)} min"
        )
        threads.add_event(
            session, alert.ticket_id, now, f"sla-{alert.threshold.key}", actor="sla", detail=detail, buffer=history
        )
    by_id = {t.id: t for t in tickets}
    breached = {a.ticket_id for a in fired if a.threshold.key == "breach-48h"}
    escalated = [t.id or 0 for t in tickets if t.id in breached and _escalate(session, t, now, history)]
    history.flush(session)
    outgoing = alert_mail(session, fired, by_id, now, policy, escalated=frozenset(escalated))  # type: ignore[arg-type]
    if fired:
        logger.info(
            "sla sweep: %d alerts, %d escalated, %d emails",
            len(fired),
            len(escalated),
            len(outgoing),
            extra={"action": "sla-sweep"},
        )
    return SweepResult(
        now=now, candidates=len(tickets), alerts=tuple(fired), escalated=tuple(escalated), outgoing=outgoing
    )


def thresholds_due(
    ticket: Ticket, now: datetime, policy: SweepPolicy, seen: set[tuple[int, int, str]]
) -> list[Threshold]:
    """The thresholds of `ticket` reached by `now` and not alerted yet (`seen`); none once answered."""
    if is_answered(
        status=ticket.status, cycle_started_at=ticket.cycle_started_at, first_answered_at=ticket.first_answered_at
    ):
        return []
    return [
        threshold
        for threshold in policy.sla.thresholds(ticket.priority, ticket.cycle_started_at)
        if threshold.at <= now and (ticket.id, ticket.cycle, threshold.key) not in seen
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedAlert:
    """An alert a sweep at some time would fire (a dry run): nothing is written."""

    ticket_id: int
    cycle: int
    threshold: Threshold
    late: timedelta
    escalates: bool = False  # the ticket would be escalated with it


def plan_sweep(session: Session, *, now: datetime, policy: SweepPolicy) -> tuple[int, list[PlannedAlert]]:
    """What `sweep` would fire at `now`, only reading: (tickets due, alerts)."""
    tickets = due_candidates(session, policy.sla.horizon(now))
    seen = fired_keys(session, tickets)
    planned: list[PlannedAlert] = []
    for ticket in tickets:
        for threshold in thresholds_due(ticket, now, policy, seen):
            escalates = threshold.key == "breach-48h" and ticket.status != "escalated"
            late = now - threshold.at
            planned.append(
                PlannedAlert(
                    ticket_id=ticket.id or 0, cycle=ticket.cycle, threshold=threshold, late=late, escalates=escalates
                )
            )
    return len(tickets), planned


def _escalate(session: Session, ticket: Ticket, now: datetime, history: threads.ThreadBuffer) -> bool:
    if ticket.status == "escalated":
        return False
    ticket.status = "escalated"
    ticket.updated_at = now
    threads.add_event(
        session, ticket.id or 0, now, "escalated", actor="sla", detail="hard limit passed", buffer=history
    )
    return True


def alert_mail(
    session: Session,
    fired: Sequence[FiredAlert],
    tickets: dict[int, Ticket],
    now: datetime,
    policy: SweepPolicy,
    *,
    escalated: frozenset[int] = frozenset(),
) -> tuple[OutgoingEmail, ...]:
    """One email per recipient grouping its alerts: supervisors get all, agents their own tickets,
    and (round-robin) a group the hard-limit alert of a ticket of theirs this sweep escalated."""
    groups: dict[str, list[FiredAlert]] = defaultdict(list)
    for alert in fired:
        ticket = tickets[alert.ticket_id]
        recipients = set(policy.supervisors)
        if policy.notify_agents and ticket.assigned_agent:
            recipients.add(ticket.assigned_agent.lower())
        if alert.threshold.key == "breach-48h" and alert.ticket_id in escalated:
            group = told_on_escalation(
                category=ticket.category,
                assigned_group=ticket.assigned_group,
                routing=policy.routing,
                actor="",
                supervisors=policy.supervisors,
            )
            recipients.update(member.lower() for member in group)
        for recipient in recipients:
            groups[recipient].append(alert)
    return tuple(_alert_email(session, to, alerts, tickets, now, policy) for to, alerts in sorted(groups.items()))


def _alert_email(
    session: Session,
    recipient: str,
    alerts: list[FiredAlert],
    tickets: dict[int, Ticket],
    now: datetime,
    policy: SweepPolicy,
) -> OutgoingEmail:
    items = tuple(_alert_item(tickets[a.ticket_id], a, now, policy) for a in alerts)
    ticket_ids = sorted({a.ticket_id for a in alerts})
    single = ticket_ids[0] if len(ticket_ids) == 1 else None
    context = SlaAlertContext(alerts=items, ticket_count=len(ticket_ids))
    if single is not None:
        worst = max(items, key=lambda item: THRESHOLD_RANK[item.alert.key])
        context = SlaAlertContext(
            alerts=items, ticket_count=1, ticket=worst.ticket, requester=worst.requester, alert=worst.alert
        )
    root = thread_root(session, single) if single is not None else ""
    return OutgoingEmail(
        kind="sla_alert",
        ticket_id=single,
        to=(recipient,),
        idempotency_key=f"sla:{min(a.alert_id for a in alerts)}:{recipient}"[:300],
        language=policy.language,
        auto_submitted="auto-generated",
        in_reply_to=root,
        references=(root,) if root else (),
        context=context,
    )


THRESHOLD_RANK = {"warn-24h": 0, "breach-24h": 1, "warn-48h": 2, "breach-48h": 3}


def _alert_item(ticket: Ticket, alert: FiredAlert, now: datetime, policy: SweepPolicy) -> AlertItem:
    threshold = alert.threshold
    view = AlertView(
        key=threshold.key,
        stage=threshold.stage,
        limit=threshold.limit,
        threshold_hours=display_hours(threshold.target_hours),
        due_at=threshold.deadline.astimezone(policy.sla.zone),
        fired_for=threshold.at.astimezone(policy.sla.zone),
        age_hours=(now - ticket.cycle_started_at).total_seconds() / 3600,
        late_hours=alert.late.total_seconds() / 3600,
        catch_up=alert.late > policy.sla.catch_up,
    )
    return AlertItem(ticket=ticket_view(ticket), requester=requester_of(ticket), alert=view)


def thread_root(session: Session, ticket_id: int) -> str:
    """The Message-ID of the ticket's first message, so an alert threads with the ticket."""
    query = select(col(Message.message_id)).where(col(Message.ticket_id) == ticket_id, col(Message.message_id) != "")
    first_in = query.where(col(Message.direction) == "in").order_by(col(Message.id)).limit(1)
    return session.scalar(first_in) or session.scalar(query.order_by(col(Message.id)).limit(1)) or ""


def count_by_status(session: Session, statuses: Iterable[str]) -> dict[str, int]:
    query = (
        select(col(Ticket.status), func.count())
        .where(col(Ticket.status).in_(list(statuses)))
        .group_by(col(Ticket.status))
    )
    return {status: int(n) for status, n in session.execute(query)}


def alerts_between(
    session: Session, start: datetime, end: datetime, keys: Sequence[str]
) -> list[tuple[SlaAlert, Ticket]]:
    """Alerts of these thresholds that fell due in [start, end), with their tickets."""
    query = (
        select(SlaAlert, Ticket)
        .join(Ticket, col(Ticket.id) == col(SlaAlert.ticket_id))
        .where(col(SlaAlert.due_at) >= start, col(SlaAlert.due_at) < end, col(SlaAlert.threshold).in_(list(keys)))
        .order_by(col(SlaAlert.due_at))
    )
    return [(alert, ticket) for alert, ticket in session.execute(query)]
