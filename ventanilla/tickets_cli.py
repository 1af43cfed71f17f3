"""`ventanilla tickets ...`: list (filters, search, 'N of M shown'), show and quarantine."""

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from tickets import repository as repo
from tickets.db import read_only
from tickets.ingest import mail_log
from tickets.ingest.mail_log import MailFilter
from tickets.listing import PRIORITIES, STATUSES, TicketFilter, earlier_tickets, list_tickets
from tickets.models import Ticket
from ventanilla.attachments_cli import attachment_lines, attachments_json
from ventanilla.attachments_cli import register as register_attachment
from ventanilla.context import AppContext
from ventanilla.lazy_cli import Lazy, lazy_group
from ventanilla.mail_cli import mail_row
from ventanilla.tables import long_time, one_of, parse_when, shown_line
from ventanilla.ticket_view import (
    event_json,
    history_json,
    message_json,
    print_ticket,
    ticket_summary,
    tickets_table,
)

# The agents' actions (ventanilla.agent_cli) load the mail pipeline: imported when one runs.
AGENT = "ventanilla.agent_cli"
COMMANDS: tuple[Lazy | str, ...] = (
    "list",
    "show",
    "quarantine",
    Lazy(
        name="reply",
        module=AGENT,
        help="Answer the user (from the support address, in their thread); --macro puts a canned reply on top.",
    ),
    Lazy(name="note", module=AGENT, help="Add an internal note; other agents are told, the user is not."),
    Lazy(name="escalate", module=AGENT, help="Escalate; the text is the reason; supervisors are told."),
    Lazy(name="resolve", module=AGENT, help="Mark resolved; a text is sent to the user as the last answer."),
    Lazy(name="close", module=AGENT, help="Close; a text is sent to the user first."),
    Lazy(name="assign", module=AGENT, help="Give the ticket to the agent (or group) named by the text."),
    Lazy(name="reopen", module=AGENT, help="Reopen with a new response clock; a text is kept as a note."),
    "attachment",
)
app = typer.Typer(help="Look at tickets and quarantined mail.", no_args_is_help=True, cls=lazy_group(*COMMANDS))
console = Console()
errors = Console(stderr=True, soft_wrap=True)
HISTORY = 5  # earlier tickets of the requester shown with a ticket


def _filter(app_ctx: AppContext, **given: Any) -> TicketFilter:
    """The options as a filter; a bad value is one line and exit 2."""
    zone = app_ctx.zone
    return TicketFilter(
        status=one_of(given["status"], "status", STATUSES),
        priority=one_of(given["priority"], "priority", PRIORITIES),
        requester=given["requester"] or "",
        agent=given["agent"] or "",
        category=given["category"] or "",
        since=parse_when(given["since"], "--since", zone),
        until=parse_when(given["until"], "--until", zone, end=True),
        search=given["search"] or "",
    )


@app.command("list")
def list_command(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help=", ".join(STATUSES))] = None,
    requester: Annotated[str | None, typer.Option(metavar="ADDR", help="the requester's address")] = None,
    agent: Annotated[str | None, typer.Option(metavar="ADDR", help="the assigned agent's address")] = None,
    category: Annotated[str | None, typer.Option(help="the ticket's category")] = None,
    priority: Annotated[str | None, typer.Option(help=", ".join(PRIORITIES))] = None,
    since: Annotated[str | None, typer.Option(help="created at or after (ISO date or time; service zone)")] = None,
    until: Annotated[str | None, typer.Option(help="created before (a date alone: up to its end)")] = None,
    search: Annotated[str | None, typer.Option(metavar="TEXT", help="words of the subject or messages")] = None,
    limit: Annotated[int, typer.Option(min=0, help="how many, newest first (0 = all)")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list")] = False,
) -> None:
    """List tickets, newest first; says how many of how many are shown."""
    app_ctx: AppContext = ctx.obj
    found = _filter(
        app_ctx,
        status=status,
        priority=priority,
        requester=requester,
        agent=agent,
        category=category,
        since=since,
        until=until,
        search=search,
    )
    with read_only(app_ctx.engine) as session:
        tickets, total = list_tickets(session, found, limit=limit)
    if as_json:
        print(json.dumps([ticket_summary(t) for t in tickets], indent=2, ensure_ascii=False))
        return
    now = app_ctx.clock.now()
    console.print(tickets_table(tickets, app_ctx.zone, now, console.width))
    console.print(shown_line(len(tickets), total), highlight=False)


@app.command("show")
def show_ticket(
    ctx: typer.Context,
    number: int,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Show one ticket: the requester's earlier tickets, its messages and history."""
    app_ctx: AppContext = ctx.obj
    with read_only(app_ctx.engine) as session:
        ticket = session.get(Ticket, number)
        if ticket is None:
            errors.print(f"no ticket #{number}", markup=False)
            raise typer.Exit(1)
        earlier = earlier_tickets(session, ticket, limit=HISTORY)
        messages = repo.ticket_messages(session, number)
        events = repo.ticket_events(session, number)
        files = attachments_json(session, [m.id for m in messages if m.id is not None])
    if as_json:
        data = ticket_summary(ticket) | {
            "history": history_json(earlier),
            "messages": [message_json(m) | {"attachments": files.get(m.id or 0, [])} for m in messages],
            "events": [event_json(e) for e in events],
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    lines = {message_id: attachment_lines(found) for message_id, found in files.items()}
    print_ticket(console, ticket, earlier, messages, events, app_ctx.zone, attachments=lines)


QUARANTINE_FIELDS = ("id", "mailbox", "uid", "size", "arrived_at", "reason", "from", "from_name", "subject")


@app.command("quarantine")
def list_quarantine(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Messages kept aside because they could not be processed (raw bytes kept; `mail release ID`)."""
    app_ctx: AppContext = ctx.obj
    zone = app_ctx.zone
    with read_only(app_ctx.engine) as session:
        receipts, total = mail_log.list_mail(session, MailFilter(status="quarantined"), limit=0)
        raws = mail_log.raws_of(session, [r for r in receipts if not (r.sender or r.subject)])
    rows = []
    for receipt in receipts:
        row = mail_row(receipt, raws.get(receipt.raw_sha256), zone)
        rows.append(
            {k: row[k] for k in QUARANTINE_FIELDS}
            | {"message_id": receipt.message_id, "uidvalidity": receipt.uidvalidity, "sha256": receipt.raw_sha256}
        )
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    console.print(Text(f"Quarantine ({total}), times in {zone.key}; release with: ventanilla mail release ID"))
    for row, receipt in zip(rows, receipts, strict=True):
        lines = (
            f"#{row['id']} {long_time(receipt.arrived_at, zone)} {row['size']:,} bytes: {row['reason']}",
            f"    from: {row['from'] or '(none)'} {row['from_name']}".rstrip(),
            f"    subject: {row['subject'] or '(none)'}",
            f"    Message-ID: {row['message_id'] or '(none)'}",
        )
        for line in lines:
            console.print(Text(line), overflow="ellipsis", no_wrap=True, crop=True)


register_attachment(app)  # `tickets attachment N ID`
