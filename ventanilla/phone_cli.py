"""`ventanilla phone log|import`: calls become tickets and written follow-ups."""

import logging
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlmodel import Session

from config.phone import PhoneSettings
from config.settings import Settings
from tickets.phone import calls as phone
from tickets.phone import log_csv as phone_csv
from tickets.values import OutgoingEmail
from tickets.work import as_mail
from ventanilla.context import AppContext
from ventanilla.wiring import ingest_policy

app = typer.Typer(help="Phone calls: log one, import a call-centre log.", no_args_is_help=True)
console = Console(stderr=True)
logger = logging.getLogger(__name__)
BATCH = 200
MAX_SHOWN = 20  # bad rows listed one per line; the count says how many more


def phone_settings(settings: Settings) -> PhoneSettings:
    section = getattr(settings, "phone", None)
    return section if isinstance(section, PhoneSettings) else PhoneSettings()


def phone_policy(settings: Settings) -> phone.PhonePolicy:
    return phone.PhonePolicy(
        ingest=ingest_policy(settings, with_faq=False),  # calls get no acknowledgement
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
    policy = phone_policy(app_ctx.settings_with_secret)
    try:
        result = app_ctx.app.run(lambda session, at: phone.record_call(session, call, now=at, policy=policy), now=now)
    except phone.CallError as exc:
        console.print(f"[red]not recorded:[/red] {exc}")
        raise typer.Exit(1) from None
    mail = ", ".join(i.kind for i in result.outgoing) or "no mail"
    console.print(f"call {result.call_id} {result.action}; ticket #{result.ticket_id}; {mail} queued")
    print(result.ticket_id or "")


@app.command("import")
def import_calls(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV with " + ",".join(phone_csv.CSV_COLUMNS))],
) -> None:
    """Import a call-centre log; re-importing adds nothing. A file with bad rows is refused
    whole (each named by line and column, exit 2): nothing is written."""
    app_ctx: AppContext = ctx.obj
    helpdesk = app_ctx.settings.helpdesk
    calls = _read_log(path, (helpdesk.address, *helpdesk.own_addresses))
    counts = _import(app_ctx, calls)
    _say(
        f"{counts['recorded']} recorded, {counts['duplicate']} already known, "
        f"{counts['bad']} refused, {counts['mail']} mails queued"
    )
    if counts["bad"]:
        raise typer.Exit(1)


def _say(text: str) -> None:
    """One line on stderr, as it is: no markup read in file contents, no wrapping."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _read_log(path: Path, own: tuple[str, ...]) -> list[tuple[int, phone.CallRecord]]:
    """Every call of the file, or exit 2 with one line per problem (nothing written yet)."""
    try:
        text, note = phone_csv.decode_log(path.read_bytes())
        calls, errors = phone_csv.read_log(text, own)
    except OSError as exc:
        _say(f"cannot import {path}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    except phone.CallError as exc:
        _say(f"cannot import {path}: {exc}")
        raise typer.Exit(2) from None
    if note:
        _say(f"{path.name}: {note}")
    for error in errors[:MAX_SHOWN]:
        _say(f"{path.name} line {error.line}: {error.problem}")
    if errors:
        more = f" ({len(errors) - MAX_SHOWN} more not shown)" if len(errors) > MAX_SHOWN else ""
        _say(f"nothing imported: {len(errors)} bad rows{more}")
        raise typer.Exit(2)
    return calls


def _import(app_ctx: AppContext, calls: list[tuple[int, phone.CallRecord]]) -> dict[str, int]:
    """Rows in batches of BATCH per unit of work (a checked file; a re-import adds nothing)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    policy = phone_policy(app_ctx.settings_with_secret)
    counts = {"recorded": 0, "duplicate": 0, "bad": 0, "mail": 0}
    columns = (TextColumn("calls"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("import", total=len(calls))
        for start in range(0, len(calls), BATCH):
            batch = calls[start : start + BATCH]
            app_ctx.app.run(partial(_record, batch=batch, policy=policy, counts=counts), mail=as_mail)
            bar.advance(task, len(batch))
    return counts


def _record(
    session: Session,
    now: datetime,
    *,
    batch: list[tuple[int, phone.CallRecord]],
    policy: phone.PhonePolicy,
    counts: dict[str, int],
) -> list[OutgoingEmail]:
    """Each call in its own savepoint (one refused never stops the others); the mail to send."""
    outgoing: list[OutgoingEmail] = []
    for line_no, call in batch:
        try:
            with session.begin_nested():
                result = phone.record_call(session, call, now=now, policy=policy)
        except phone.CallError as exc:  # e.g. a caller at one of our own addresses
            counts["bad"] += 1
            _say(f"line {line_no}: {exc}")
            continue
        counts[result.action] += 1
        counts["mail"] += len(result.outgoing)
        outgoing += result.outgoing
    return outgoing
