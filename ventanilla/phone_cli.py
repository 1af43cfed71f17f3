"""`ventanilla phone log|import`: calls become tickets and written follow-ups."""

import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from config.phone import PhoneSettings
from config.settings import Settings
from mailer.outgoing import OutgoingQueue
from tickets import phone
from tickets.db import unit_of_work
from ventanilla.context import AppContext
from ventanilla.wiring import ingest_policy

app = typer.Typer(help="Phone calls: log one, import a call-centre log.", no_args_is_help=True)
console = Console(stderr=True)
logger = logging.getLogger(__name__)
BATCH = 200


def phone_settings(settings: Settings) -> PhoneSettings:
    section = getattr(settings, "phone", None)
    return section if isinstance(section, PhoneSettings) else PhoneSettings()


def phone_policy(settings: Settings) -> phone.PhonePolicy:
    return phone.PhonePolicy(
        ingest=ingest_policy(settings),
        timezone=settings.calendar.timezone,
        missed_call_email=phone_settings(settings).missed_call_email,
    )


def _started(value: str | None, now: datetime) -> datetime:
    if not value:
        return now
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date-time", param_hint="--started-at") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("give a time zone, e.g. 2013-10-01T09:30:00+02:00", param_hint="--started-at")
    return moment


@app.command("log")
def log_call(
    ctx: typer.Context,
    email: Annotated[str, typer.Option("--email", help="the caller's address")],
    agent: Annotated[str, typer.Option("--agent", "-a", help="who took the call")],
    name: Annotated[str, typer.Option("--name", help="the caller's name")] = "",
    phone_number: Annotated[str, typer.Option("--phone", help="the caller's number")] = "",
    ticket: Annotated[int | None, typer.Option("--ticket", help="the ticket the call is about")] = None,
    summary: Annotated[str | None, typer.Option("--summary", help="what was said")] = None,
    summary_file: Annotated[Path | None, typer.Option("--summary-file", help="read the summary from a file")] = None,
    line: Annotated[str, typer.Option("--line", help="general | revocation")] = "general",
    started_at: Annotated[str | None, typer.Option("--started-at", help="ISO time with zone (default: now)")] = None,
    outcome: Annotated[str, typer.Option("--outcome", help="answered | lost | abandoned")] = "answered",
) -> None:
    """Record a call; an attended one is followed up by email and counts as an answer."""
    app_ctx: AppContext = ctx.obj
    if (summary is None) == (summary_file is None) and outcome == "answered":
        raise typer.BadParameter("give --summary or --summary-file (one of them)")
    text = summary_file.read_text(encoding="utf-8") if summary_file else (summary or "")
    now = app_ctx.clock.now()
    call = phone.CallRecord(
        started_at=_started(started_at, now),
        line=line,
        outcome=outcome,
        caller_phone=phone_number,
        caller_email=email,
        caller_name=name,
        agent=agent,
        summary=text.strip(),
        ticket_id=ticket,
    )
    queue = OutgoingQueue(app_ctx.settings_with_secret)
    try:
        with unit_of_work(app_ctx.engine) as session:
            result = phone.record_call(session, call, now=now, policy=phone_policy(app_ctx.settings_with_secret))
            for intent in result.outgoing:
                queue(session, intent, now)
    except phone.CallError as exc:
        console.print(f"[red]not recorded:[/red] {exc}")
        raise typer.Exit(1) from None
    mail = ", ".join(i.kind for i in result.outgoing) or "no mail"
    console.print(f"call {result.call_id} {result.action}; ticket #{result.ticket_id}; {mail} queued")
    print(result.ticket_id or "")


@app.command("import")
def import_calls(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV with " + ",".join(phone.CSV_COLUMNS))],
) -> None:
    """Import a call-centre log; re-importing adds nothing; bad rows are reported and skipped."""
    app_ctx: AppContext = ctx.obj
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            total = max(0, sum(1 for _ in handle) - 1)
        counts = _import(app_ctx, path, total)
    except phone.CallError as exc:
        console.print(f"[red]cannot import {path}:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"{counts['recorded']} recorded, {counts['duplicate']} already known, {counts['bad']} bad rows skipped, "
        f"{counts['mail']} mails queued"
    )
    if counts["bad"]:
        raise typer.Exit(1)


def _import(app_ctx: AppContext, path: Path, total: int) -> dict[str, int]:
    """Rows in batches of BATCH per transaction; a bad row never stops the others."""
    policy, queue = phone_policy(app_ctx.settings_with_secret), OutgoingQueue(app_ctx.settings_with_secret)
    counts = {"recorded": 0, "duplicate": 0, "bad": 0, "mail": 0}
    columns = (TextColumn("calls"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with path.open(encoding="utf-8-sig", newline="") as handle, Progress(*columns, console=console) as bar:
        task = bar.add_task("import", total=total)
        rows = phone.read_csv(handle)
        while True:
            batch = [row for _, row in zip(range(BATCH), rows, strict=False)]
            if not batch:
                return counts
            with unit_of_work(app_ctx.engine) as session:
                for line_no, item in batch:
                    _one(session, line_no, item, app_ctx.clock.now(), policy, queue, counts)
            bar.advance(task, len(batch))


def _one(session, line_no, item, now, policy, queue, counts) -> None:  # type: ignore[no-untyped-def]
    if isinstance(item, phone.CallError):
        counts["bad"] += 1
        console.print(f"line {line_no}: {item}")
        return
    try:
        with session.begin_nested():
            result = phone.record_call(session, item, now=now, policy=policy)
            for intent in result.outgoing:
                queue(session, intent, now)
    except phone.CallError as exc:
        counts["bad"] += 1
        console.print(f"line {line_no}: {exc}")
        return
    counts[result.action] += 1
    counts["mail"] += len(result.outgoing)
