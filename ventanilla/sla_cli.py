"""`ventanilla sla ...`: run one sweep at a given time, show every waiting ticket's SLA clock."""

import json
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from tickets.db import read_only
from tickets.sla.digest import TicketClock, sla_status
from tickets.sla.sweep import FiredAlert, PlannedAlert, SweepPolicy, plan_sweep
from ventanilla.context import AppContext
from ventanilla.tables import Column, fitted_table, shown_line

app = typer.Typer(help="SLA clocks: sweep for alerts, show time left.", no_args_is_help=True)
console = Console()


def parse_now(value: str | None, ctx: AppContext) -> datetime:
    """`--now` as an aware moment; a value without an offset is local to the service calendar."""
    if not value:
        return ctx.clock.now()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO-8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(ctx.settings.calendar.timezone))
    return moment


def _ahead(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _alert_line(alert: FiredAlert | PlannedAlert, policy: SweepPolicy) -> str:
    late = f" ({alert.late.total_seconds() / 3600:.1f} h late)" if alert.late > policy.sla.catch_up else ""
    return f"#{alert.ticket_id} cycle {alert.cycle}: {alert.threshold.key}{late}"


def _dry_run(app_ctx: AppContext, at: datetime, policy: SweepPolicy) -> None:
    with read_only(app_ctx.engine) as session:
        candidates, planned = plan_sweep(session, now=at, policy=policy)
    for alert in planned:
        console.print(_alert_line(alert, policy) + (", escalated" if alert.escalates else ""), highlight=False)
    escalated = sum(1 for a in planned if a.escalates)
    console.print(f"dry run at {at.isoformat(timespec='minutes')}: nothing written", highlight=False)
    console.print(f"{candidates} due, {len(planned)} alerts, {escalated} escalated", highlight=False)


@app.command()
def sweep(
    ctx: typer.Context,
    now: Annotated[str | None, typer.Option("--now", help="sweep as of this ISO-8601 time")] = None,
    digest: Annotated[bool, typer.Option("--digest", help="also queue the daily digest")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print what it would alert; write nothing")] = False,
) -> None:
    """Run one SLA sweep: write alerts, escalations and their mail to the outbox."""
    from scheduler.jobs import run_daily_digest, run_sla_sweep  # with the mail pipeline: not for `status`

    app_ctx: AppContext = ctx.obj
    at = parse_now(now, app_ctx)
    policy = SweepPolicy.from_settings(app_ctx.settings)
    if dry_run:
        _dry_run(app_ctx, at, policy)
        return
    ahead = at - app_ctx.clock.now()
    if ahead > timedelta(0):  # said before anything is written: the operator may still stop
        typer.echo(f"warning: --now is {_ahead(ahead)} ahead: alerts and their mail will be dated then", err=True)
    result = run_sla_sweep(app_ctx.app, now=at, policy=policy)
    if result.skipped:
        console.print("another worker is sweeping right now; nothing done")
        return
    for alert in result.alerts:
        console.print(_alert_line(alert, policy), highlight=False)
    console.print(f"sweep at {at.isoformat(timespec='minutes')}: {result.candidates} due", highlight=False)
    console.print(
        f"{len(result.alerts)} alerts, {len(result.escalated)} escalated, {len(result.outgoing)} emails queued",
        highlight=False,
    )
    if digest:
        sent = run_daily_digest(app_ctx.app, now=at, policy=policy)
        console.print(f"digest queued for {sent} supervisors")


def _colour(clock: TicketClock) -> str:
    if clock.left_hours < 0:
        return "bold red"
    if clock.next_threshold in ("breach-24h", "breach-48h"):  # the warning has fired
        return "yellow"
    return "green"


STATUS_COLUMNS = (
    Column("#", 6, justify="right"),
    Column("left", 8, justify="right"),
    Column("subject", 12, flexible=True),
    Column("requester", 12, drop=3, flexible=True),
    Column("deadline", 12, drop=2),
    Column("priority", 8, drop=4),
    Column("waited", 8, drop=5, justify="right"),
    Column("next", 10, drop=6),
    Column("agent", 12, drop=7, max_width=24),
    Column("status", 9, drop=8),
)


def status_table(clocks: list[TicketClock], now: datetime, zone: ZoneInfo, width: int = 80) -> Table:
    """One waiting ticket per line at `width`, least time left first; times in the service's zone."""
    rows = [
        (
            str(c.ticket_id),
            f"{c.left_hours:+.1f} h",
            c.subject,
            c.requester,
            f"{c.deadline.astimezone(zone):%a %d %H:%M}",
            c.priority,
            f"{c.waited_hours:.1f} h",
            c.next_threshold or "-",
            c.assigned_agent or "-",
            c.status,
        )
        for c in clocks
    ]
    title = f"Waiting for us at {now.astimezone(zone):%Y-%m-%d %H:%M} (times in {zone.key})"
    return fitted_table(title, STATUS_COLUMNS, rows, width, [_colour(c) for c in clocks])


@app.command()
def status(
    ctx: typer.Context,
    now: Annotated[str | None, typer.Option("--now", help="as of this ISO-8601 time")] = None,
    limit: Annotated[int, typer.Option(min=0, help="how many, least time left first (0 = all)")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list")] = False,
) -> None:
    """Every ticket waiting for an answer, least time left first; says how many are shown."""
    app_ctx: AppContext = ctx.obj
    at = parse_now(now, app_ctx)
    policy = SweepPolicy.from_settings(app_ctx.settings)
    with read_only(app_ctx.engine) as session:
        clocks = sla_status(session, now=at, policy=policy, limit=None)
    shown = clocks[:limit] if limit else clocks
    if as_json:
        typer.echo(json.dumps([c.as_dict() for c in shown], indent=2, ensure_ascii=False))
        return
    console.print(status_table(shown, at, policy.sla.zone, console.width))
    console.print(shown_line(len(shown), len(clocks)), highlight=False)
