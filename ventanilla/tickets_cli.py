"""`ventanilla tickets ...`: list, show and quarantine."""

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tickets import repository as repo
from tickets.db import read_only
from tickets.models import Message, Ticket
from ventanilla.attachments_cli import attachment_lines, attachments_json
from ventanilla.context import AppContext

app = typer.Typer(help="Look at tickets and quarantined mail.", no_args_is_help=True)
console = Console()


def _iso(value: Any) -> str | None:
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
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "response_due_at": _iso(ticket.response_due_at),
        "hard_due_at": _iso(ticket.hard_due_at),
        "first_answered_at": _iso(ticket.first_answered_at),
        "assigned_agent": ticket.assigned_agent,
        "linked_ticket_id": ticket.linked_ticket_id,
        "requester_undeliverable": ticket.requester_undeliverable,
    }


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
        "time": _iso(message.created_at),
    }


def tickets_table(tickets: list[Ticket], title: str = "Tickets") -> Table:
    table = Table(title=title)
    for column in (
        "#",
        "status",
        "priority",
        "category",
        "lang",
        "requester",
        "subject",
        "arrived (UTC)",
        "answer due",
    ):
        table.add_column(column, overflow="fold")
    for t in tickets:
        style = "bold red" if t.priority == "urgent" else None
        table.add_row(
            str(t.id),
            t.status,
            t.priority,
            t.category,
            t.language,
            escape(t.requester_email),
            escape(t.subject[:60]),
            t.created_at.strftime("%Y-%m-%d %H:%M"),
            t.response_due_at.strftime("%Y-%m-%d %H:%M") if t.response_due_at else "-",
            style=style,
        )
    return table


@app.command("list")
def list_tickets(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="only tickets in this status")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List tickets."""
    app_ctx: AppContext = ctx.obj
    with read_only(app_ctx.engine) as session:
        tickets = repo.list_tickets(session, status=status)
    if as_json:
        print(json.dumps([ticket_summary(t) for t in tickets], indent=2, ensure_ascii=False))
        return
    console.print(tickets_table(tickets))


@app.command("show")
def show_ticket(
    ctx: typer.Context,
    number: int,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show one ticket with its messages and history."""
    app_ctx: AppContext = ctx.obj
    with read_only(app_ctx.engine) as session:
        ticket = session.get(Ticket, number)
        if ticket is None:
            console.print(f"[red]no ticket #{number}[/red]")
            raise typer.Exit(1)
        messages = repo.ticket_messages(session, number)
        events = repo.ticket_events(session, number)
        files = attachments_json(session, [m.id for m in messages if m.id is not None])
    if as_json:
        data = ticket_summary(ticket) | {
            "messages": [message_json(m) | {"attachments": files.get(m.id or 0, [])} for m in messages],
            "events": [{"at": _iso(e.at), "kind": e.kind, "actor": e.actor, "detail": e.detail} for e in events],
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    console.print(tickets_table([ticket], title=f"Ticket #{number}"))
    for m in messages:
        arrow = "→" if m.direction == "out" else "←"
        console.rule(escape(f"{arrow} {m.kind} {m.created_at:%Y-%m-%d %H:%M} {m.from_addr} → {m.to_addrs}"))
        console.print(f"[bold]{m.subject}[/bold]\n{m.text.strip()[:2000]}", markup=False, highlight=False)
        for line in attachment_lines(files.get(m.id or 0, [])):
            console.print(line, markup=False, highlight=False)
    history = Table(title="History")
    for column in ("at (UTC)", "event", "by", "detail"):
        history.add_column(column, overflow="fold")
    for e in events:
        history.add_row(f"{e.at:%Y-%m-%d %H:%M}", e.kind, escape(e.actor), escape(e.detail))
    console.print(history)


@app.command("quarantine")
def list_quarantine(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Messages kept aside because they could not be processed (raw bytes are stored)."""
    app_ctx: AppContext = ctx.obj
    with read_only(app_ctx.engine) as session:
        rows = repo.quarantined(session)
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "mailbox": r.mailbox,
                        "uidvalidity": r.uidvalidity,
                        "uid": r.uid,
                        "size": r.size,
                        "arrived_at": _iso(r.arrived_at),
                        "reason": r.reason,
                        "sha256": r.raw_sha256,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    table = Table(title=f"Quarantine ({len(rows)})")
    for column in ("id", "mailbox", "uid", "size", "arrived (UTC)", "reason"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(str(r.id), r.mailbox, str(r.uid), str(r.size), f"{r.arrived_at:%Y-%m-%d %H:%M}", escape(r.reason))
    console.print(table)
