"""`ventanilla outbox ...`: list, retry and flush outgoing mail.

`ctx.obj` carries `settings` (config.Settings), `engine` and `clock` (see ventanilla.context).
"""

import asyncio
import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tickets.db import read_only, transaction, unit_of_work
from tickets.models import Outbox
from tickets.outbox import queries
from ventanilla.tables import Column, fitted_table, one_of, short_time, shown_line

if TYPE_CHECKING:  # `flush` imports the sender (and the mail pipeline) when it runs
    from ventanilla.pipeline.sender import DrainStats

app = typer.Typer(help="Look at and drain the outgoing mail queue.", no_args_is_help=True)
console = Console()
STYLES = {"queued": "yellow", "sent": "green", "failed": "bold red", "bounced": "red"}
WIDTH = 80


def _row_json(row: Outbox) -> dict[str, Any]:
    return {
        "id": row.id,
        "ticket": row.ticket_id,
        "kind": row.kind,
        "status": row.status,
        "attempts": row.attempts,
        "recipients": queries.split_recipients(row.recipients),
        "message_id": row.message_id,
        "created_at": row.created_at.isoformat(),
        "next_attempt_at": row.next_attempt_at.isoformat(),
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "last_reply": row.last_reply,
        "results": queries.load_results(row.results),
    }


OUTBOX_COLUMNS = (
    Column("id", 6, justify="right"),
    Column("status", 7),
    Column("kind", 12, max_width=18),
    Column("to", 12, flexible=True),
    Column("next / sent", 11, drop=2),
    Column("tries", 5, drop=4, justify="right"),
    Column("ticket", 6, drop=3, justify="right"),
    Column("created", 11, drop=5),
    Column("last reply", 12, drop=6, flexible=True),
)


def outbox_table(rows: list[Outbox], zone: ZoneInfo, now: datetime, width: int) -> Table:
    """One outgoing message per line at `width`; times in the service's zone (named)."""
    cells = [
        (
            str(row.id),
            row.status,
            row.kind,
            row.recipients,
            short_time(row.sent_at or row.next_attempt_at, zone, now),
            str(row.attempts),
            str(row.ticket_id or "-"),
            short_time(row.created_at, zone, now),
            " ".join(row.last_reply.split()) or "-",
        )
        for row in rows
    ]
    styles = [STYLES.get(row.status) for row in rows]
    return fitted_table(f"Outbox (times in {zone.key})", OUTBOX_COLUMNS, cells, width, styles)


@app.command("list")
def list_outbox(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help=", ".join(queries.STATUSES))] = None,
    limit: Annotated[int, typer.Option(min=0, help="how many, newest first (0 = all)")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list")] = False,
) -> None:
    """List outgoing mail, newest first; says how many of how many are shown."""
    wanted = one_of(status, "status", queries.STATUSES)
    with read_only(ctx.obj.engine) as session:
        rows = queries.list_outbox(session, status=wanted or None, limit=limit or None)
        total = queries.count_outbox(session, status=wanted or None)
    if as_json:
        print(json.dumps([_row_json(r) for r in rows], indent=2, ensure_ascii=False))
        return
    zone = ZoneInfo(ctx.obj.settings.calendar.timezone)
    console.print(outbox_table(rows, zone, ctx.obj.clock.now(), console.width))
    console.print(shown_line(len(rows), total), highlight=False)


@app.command("retry")
def retry(
    ctx: typer.Context,
    outbox_id: Annotated[int, typer.Argument(metavar="ID", help="the outbox row to send again")],
    force: Annotated[bool, typer.Option(help="requeue even a row that was sent")] = False,
) -> None:
    """Queue a failed (or bounced) message again, due now."""
    try:
        with unit_of_work(ctx.obj.engine) as session:
            row = queries.requeue(session, outbox_id, ctx.obj.clock.now(), force=force)
            kind, ticket = row.kind, row.ticket_id
    except (LookupError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"outbox {outbox_id} ({kind}, ticket {ticket or '-'}) queued again")


def _progress_line(stats: "DrainStats") -> None:
    console.print(
        f"\r{stats.claimed} claimed · {stats.sent} sent · {stats.retried} deferred · {stats.failed} failed",
        end="",
        highlight=False,
    )


def why_queued(row: Outbox, now: datetime, holder: str, stats: "DrainStats", zone: ZoneInfo) -> str:
    """Why a row is still queued after a flush by `holder` at `now`, in a few words (times in `zone`)."""
    if row.claimed_by and row.claimed_by != holder:
        beat = f", heartbeat {(now - row.heartbeat_at).total_seconds():.0f} s ago" if row.heartbeat_at else ""
        return f"being sent by {row.claimed_by}{beat}"
    if row.next_attempt_at > now:  # the flush made every row due: this one was tried and deferred
        at = row.next_attempt_at.astimezone(zone)
        return f"deferred to {at:%Y-%m-%d %H:%M} {at.tzname()}: {row.last_reply or 'no reply'}"
    if stats.deferred:
        return "not tried: the mail server is unreachable"
    return "not tried yet: flush again"


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def _still_queued(obj: Any, holder: str, stats: "DrainStats", *, limit: int = 20) -> tuple[int, list[str]]:
    """How many rows are still queued, and two lines (of 80 columns) for each of the first `limit`."""
    with read_only(obj.engine) as session:
        count = queries.count_queued(session)
        rows = queries.list_outbox(session, status="queued", limit=limit)
    now, zone = obj.clock.now(), ZoneInfo(obj.settings.calendar.timezone)
    lines = []
    for row in rows:
        lines.append(_fit(f"  #{row.id} {row.kind} to {row.recipients}"))
        lines.append(_fit(f"    {why_queued(row, now, holder, stats, zone)}"))
    return count, lines + (["  … (ventanilla outbox list --status queued)"] if count > limit else [])


async def _flush(obj: Any, holder: str) -> "DrainStats":
    from mailer.transport import make_transport
    from ventanilla.pipeline.outgoing import OutgoingQueue
    from ventanilla.pipeline.sender import OutboxDrainer

    settings = obj.settings_with_secret
    transport = make_transport(settings.outbound)
    drainer = OutboxDrainer(
        obj.engine,
        transport,
        obj.clock,
        helpdesk=settings.helpdesk,
        outbound=settings.outbound,
        holder=holder,
        notify=OutgoingQueue(settings),
    )
    try:
        return await drainer.run_once(progress=_progress_line if console.is_terminal else None)
    finally:
        await transport.close()


@app.command("flush")
def flush(ctx: typer.Context) -> None:
    """Try every queued message now, also those waiting for a later time (as postqueue -f).

    Exit 0 when everything tried was sent, 1 when a message was refused for good, 75 when the
    server deferred one (4xx) or could not be reached: it stays queued and is tried again later."""
    from ventanilla.pipeline.holder import worker_id

    with transaction(ctx.obj.engine) as connection:
        made_due = queries.make_due(connection, ctx.obj.clock.now())
    if made_due:
        console.print(f"{made_due} queued for a later time (a retry, a date ahead): trying them now")
    holder = worker_id()
    stats = asyncio.run(_flush(ctx.obj, holder))
    _progress_line(stats)  # the last word of the progress line (all of it, when not on a terminal)
    console.print()
    if stats.deferred:
        console.print("[yellow]the mail server is unreachable; the rest waits for the next try")
    count, waiting = _still_queued(ctx.obj, holder, stats)
    console.print(f"still queued: {count or 'none'}", highlight=False)
    for line in waiting:
        console.print(escape(line), highlight=False)
    if stats.failed:
        raise typer.Exit(1)  # refused for good: shown on its ticket
    if stats.deferred or stats.retried:
        raise typer.Exit(75)  # EX_TEMPFAIL: not sent yet, tried again later
