"""How tickets read on a terminal and in JSON: the listing's table, one ticket's page (its customer
history, its thread with identical notifications told once, its history), the JSON fields."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from tickets.models import Event, Message, Ticket
from ventanilla.tables import Column, fitted_table, long_time, short_time

LIST_COLUMNS = (
    Column("#", 6, justify="right"),
    Column("status", 9),
    Column("priority", 8, drop=5),
    Column("category", 10, drop=6, max_width=16),
    Column("requester", 12, drop=3, flexible=True),
    Column("subject", 14, flexible=True),
    Column("created", 11, drop=2),
    Column("agent", 12, drop=7, max_width=24),
    Column("answer due", 11, drop=8),
    Column("lang", 4, drop=9),
)
MAX_TEXT = 2000


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "language": ticket.language,
        "requester": {"email": ticket.requester_email, "name": ticket.requester_name},
        "subject": ticket.subject,
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "response_due_at": iso(ticket.response_due_at),
        "hard_due_at": iso(ticket.hard_due_at),
        "first_answered_at": iso(ticket.first_answered_at),
        "assigned_agent": ticket.assigned_agent,
        "assigned_group": ticket.assigned_group,
        "linked_ticket_id": ticket.linked_ticket_id,
        "requester_undeliverable": ticket.requester_undeliverable,
    }


def history_json(earlier: list[Ticket]) -> list[dict[str, Any]]:
    """The requester's earlier tickets: number, subject, status, date."""
    return [{"id": t.id, "subject": t.subject, "status": t.status, "created_at": iso(t.created_at)} for t in earlier]


def message_json(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "direction": message.direction,
        "kind": message.kind,
        "from": message.from_addr,
        "to": [a for a in message.to_addrs.split(", ") if a],
        "cc": [a for a in message.cc_addrs.split(", ") if a],
        "subject": message.subject,
        "message_id": message.message_id,
        "text": message.text,
        "time": iso(message.created_at),
    }


def event_json(event: Event) -> dict[str, Any]:
    return {"at": iso(event.at), "kind": event.kind, "actor": event.actor, "detail": event.detail}


def tickets_table(tickets: list[Ticket], zone: ZoneInfo, now: datetime, width: int, title: str = "Tickets") -> Table:
    """The listing: one ticket per line at `width`, times in the service's zone (named)."""
    rows = [
        (
            str(t.id),
            t.status,
            t.priority,
            t.category,
            t.requester_email,
            t.subject,
            short_time(t.created_at, zone, now),
            t.assigned_agent or "-",
            short_time(t.response_due_at, zone, now) if t.response_due_at else "-",
            t.language,
        )
        for t in tickets
    ]
    styles = ["bold red" if t.priority == "urgent" else None for t in tickets]
    return fitted_table(f"{title} (times in {zone.key})", LIST_COLUMNS, rows, width, styles)


@dataclass(frozen=True, slots=True)
class ThreadEntry:
    """A message of the thread; identical outgoing copies (one notification per agent) as one."""

    message: Message
    recipients: tuple[str, ...]


def thread_entries(messages: list[Message]) -> list[ThreadEntry]:
    """The thread with identical outgoing messages (same kind, moment, subject and text) grouped."""
    entries: list[ThreadEntry] = []
    seen: dict[tuple[Any, ...], int] = {}
    for m in messages:
        to = tuple(a for a in m.to_addrs.split(", ") if a)
        key = (m.kind, m.created_at, m.subject, m.text) if m.direction == "out" else None
        if key is not None and key in seen:
            first = entries[seen[key]]
            entries[seen[key]] = ThreadEntry(first.message, first.recipients + to)
            continue
        if key is not None:
            seen[key] = len(entries)
        entries.append(ThreadEntry(m, to))
    return entries


def print_ticket(
    console: Console,
    ticket: Ticket,
    earlier: list[Ticket],
    messages: list[Message],
    events: list[Event],
    zone: ZoneInfo,
    attachments: dict[int, list[str]] | None = None,
) -> None:
    """One ticket for a person: facts, earlier tickets, the thread (each message's attachments
    under it), the history; nothing as markup."""
    due = long_time(ticket.response_due_at, zone)
    facts = [
        ("ticket", f"#{ticket.id} {ticket.subject}"),
        ("status", f"{ticket.status} · priority {ticket.priority} · category {ticket.category} · {ticket.language}"),
        ("requester", f"{ticket.requester_name} <{ticket.requester_email}>".strip()),
        ("agent", ticket.assigned_agent or "-"),
        ("created", long_time(ticket.created_at, zone)),
        ("answer due", f"{due} (limit {long_time(ticket.hard_due_at, zone)})"),
    ]
    for key, value in facts:
        console.print(Text(f"{key:>10}: {value}"), overflow="ellipsis", no_wrap=True, crop=True)
    if earlier:
        console.print(Text(f"Earlier tickets of {ticket.requester_email} (last {len(earlier)}):"))
        for t in earlier:
            line = f"  #{t.id} {long_time(t.created_at, zone)} {t.status}: {t.subject}"
            console.print(Text(line), overflow="ellipsis", no_wrap=True, crop=True)
    for entry in thread_entries(messages):
        m = entry.message
        arrow = "→" if m.direction == "out" else "←"
        to = ", ".join(entry.recipients)
        console.print(Rule(Text(f"{arrow} {m.kind} · {long_time(m.created_at, zone)}")))
        console.print(Text(f"from {m.from_addr or '-'} to {to or '-'}", style="dim"))
        if m.subject:
            console.print(Text(m.subject, style="bold"))
        console.print(Text(m.text.strip()[:MAX_TEXT]))
        for line in (attachments or {}).get(m.id or 0, []):
            console.print(Text(line), overflow="ellipsis", no_wrap=True, crop=True)
    history = Table(title=f"History (times in {zone.key})", expand=True)
    for column in ("at", "event", "by", "detail"):
        history.add_column(column, overflow="fold")
    for e in events:
        history.add_row(long_time(e.at, zone), Text(e.kind), Text(e.actor), Text(e.detail))
    console.print(history)
