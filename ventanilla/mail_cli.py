"""`ventanilla mail list|show|release`: every received message, whatever became of it."""

import json
import sys
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mailer.headers import summarise
from tickets.db import read_only, unit_of_work
from tickets.ingest import mail_log, spool
from tickets.ingest.mail_log import MailFilter
from tickets.models import Receipt
from ventanilla.context import AppContext
from ventanilla.tables import parse_when, shown_line

app = typer.Typer(help="The mail log: every received message, what became of it, release.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True, soft_wrap=True)  # one line each, however long


def mail_row(receipt: Receipt, raw: bytes | None, zone: ZoneInfo) -> dict[str, Any]:
    """A receipt as the mail log shows it; sender and subject read off the bytes until processed."""
    sender, name, subject = receipt.sender, receipt.sender_name, receipt.subject
    if not (sender or subject) and raw:
        head = summarise(raw)
        sender, name, subject = head.sender, head.sender_name, head.subject
    return {
        "id": receipt.id,
        "mailbox": receipt.mailbox,
        "uid": receipt.uid,
        "status": receipt.status,
        "reason": receipt.reason,
        "from": sender,
        "from_name": name,
        "subject": subject,
        "message_id": receipt.message_id,
        "arrived_at": receipt.arrived_at.astimezone(zone).isoformat(),
        "size": receipt.size,
        "ticket_id": receipt.ticket_id,
        "attempts": receipt.attempts,
    }


@app.command("list")
def list_mail(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="received, ticketed, followup, agent, ignored, ...")] = None,
    sender: Annotated[str | None, typer.Option("--from", help="the sender's address")] = None,
    since: Annotated[str | None, typer.Option(help="arrived at or after (ISO date or time; service zone)")] = None,
    until: Annotated[str | None, typer.Option(help="arrived before (a date alone: up to its end)")] = None,
    limit: Annotated[int, typer.Option(min=0, help="how many, newest first (0 = all)")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list")] = False,
) -> None:
    """Every received message, newest first, whatever became of it."""
    app_ctx: AppContext = ctx.obj
    if status is not None and status not in mail_log.STATUSES:
        errors.print(f"unknown status {status!r}; one of: {', '.join(mail_log.STATUSES)}", markup=False)
        raise typer.Exit(2)
    zone = app_ctx.zone
    since_at, until_at = parse_when(since, "--since", zone), parse_when(until, "--until", zone, end=True)
    filters = MailFilter(status=status or "", sender=sender or "", since=since_at, until=until_at)
    with read_only(app_ctx.engine) as session:
        receipts, total = mail_log.list_mail(session, filters, limit=limit)
        unread = [r for r in receipts if not (r.sender or r.subject)]
        raws = mail_log.raws_of(session, unread)
    rows = [mail_row(r, raws.get(r.raw_sha256), zone) for r in receipts]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    console.print(_table(rows, zone))
    console.print(shown_line(len(rows), total), highlight=False)


def _table(rows: list[dict[str, Any]], zone: ZoneInfo) -> Table:
    table = Table(title=f"Received mail (times in {zone.key})", expand=True)
    table.add_column("id", justify="right", no_wrap=True, min_width=3)
    table.add_column("arrived", no_wrap=True, min_width=11)
    table.add_column("status", no_wrap=True, min_width=11)
    table.add_column("ticket", justify="right", no_wrap=True, min_width=6)
    table.add_column("from", overflow="ellipsis", no_wrap=True, max_width=20)
    table.add_column("subject", overflow="ellipsis", no_wrap=True, ratio=1)
    for row in rows:
        arrived = datetime.fromisoformat(row["arrived_at"]).strftime("%m-%d %H:%M")
        ticket = str(row["ticket_id"]) if row["ticket_id"] else "-"
        table.add_row(str(row["id"]), arrived, row["status"], ticket, Text(row["from"] or "?"), Text(row["subject"]))
    return table


@app.command("show")
def show(
    ctx: typer.Context,
    receipt_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json", help="as JSON")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="write the exact bytes received to stdout")] = False,
) -> None:
    """One received message: what it is, what became of it, the events it caused."""
    app_ctx: AppContext = ctx.obj
    zone = ZoneInfo(app_ctx.settings.calendar.timezone)
    with read_only(app_ctx.engine) as session:
        receipt = session.get(Receipt, receipt_id)
        if receipt is None:
            errors.print(f"no received message {receipt_id}", markup=False)
            raise typer.Exit(1)
        data = mail_log.raw_of(session, receipt)
        events = mail_log.events_caused(session, receipt)
    if raw:
        if receipt.size and not data:
            errors.print(f"received message {receipt_id}: its raw bytes were removed (purge or erasure)", markup=False)
            raise typer.Exit(1)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    row = mail_row(receipt, data, zone)
    row["events"] = [{"kind": e.kind, "actor": e.actor, "detail": e.detail} for e in events]
    if as_json:
        print(json.dumps(row, ensure_ascii=False, indent=2))
        return
    for key in ("id", "status", "reason", "from", "from_name", "subject", "message_id", "arrived_at", "size"):
        console.print(f"{key:>10}: {row[key]}", markup=False, highlight=False)
    console.print(f"{'ticket':>10}: {row['ticket_id'] or '-'}   attempts: {row['attempts']}", markup=False)
    for event in row["events"]:
        console.print(f"{'event':>10}: {event['kind']} {event['detail']}".rstrip(), markup=False, highlight=False)


@app.command("release")
def release(
    ctx: typer.Context,
    receipt_ids: Annotated[list[int] | None, typer.Argument(metavar="ID...")] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="every failed message")] = False,
) -> None:
    """Process quarantined or failed messages again, now (after a fix). Says what became of each."""
    app_ctx: AppContext = ctx.obj
    app = app_ctx.app
    wanted, refused = _releasable(app_ctx, receipt_ids or [], all_failed=all_failed)
    if not wanted and not refused:
        errors.print("nothing to release: give IDs or --all-failed", markup=False)
        raise typer.Exit(2)
    with unit_of_work(app.engine) as session:
        released = spool.release(session, wanted, now=app.clock.now())
    from ventanilla.wiring import make_ingestor  # the mail pipeline: loaded for a release only

    ingestor = make_ingestor(app)
    try:
        ingestor.process_due(lambda _outcomes: None)
    finally:
        ingestor.close()
    with read_only(app.engine) as session:
        for receipt_id in wanted:
            receipt = session.get(Receipt, receipt_id)
            assert receipt is not None
            ticket = f" ticket #{receipt.ticket_id}" if receipt.ticket_id else ""
            said = "released: " if receipt_id in released else "not released: "
            console.print(f"{receipt_id}: {said}{receipt.status}{ticket} {receipt.reason}".rstrip(), markup=False)
    if refused:
        raise typer.Exit(1)


def _releasable(app_ctx: AppContext, ids: list[int], *, all_failed: bool) -> tuple[list[int], int]:
    """The IDs that can be processed again, and how many cannot (each said why)."""
    with read_only(app_ctx.engine) as session:
        if all_failed:
            failed, _ = mail_log.list_mail(session, MailFilter(status="failed"), limit=0)
            ids = [*ids, *(r.id for r in failed if r.id is not None)]
        ok: list[tuple[int, str]] = []
        refused: list[tuple[int, str]] = []
        for receipt_id in dict.fromkeys(ids):
            receipt = session.get(Receipt, receipt_id)
            why = _why_not(receipt)
            (refused if why else ok).append((receipt_id, why))
    for receipt_id, why in refused:
        errors.print(f"{receipt_id}: not released: {why}", markup=False)
    if refused and not ok:
        raise typer.Exit(1)
    return [receipt_id for receipt_id, _ in ok], len(refused)


def _why_not(receipt: Receipt | None) -> str:
    if receipt is None:
        return "no such message"
    if receipt.status not in ("quarantined", "failed"):
        return f"it is {receipt.status}, not quarantined or failed"
    if receipt.reason.startswith("too large"):
        return "too large: its bytes were never downloaded (raise limits.max_message_bytes)"
    return ""


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="mail")
