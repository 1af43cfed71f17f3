"""`ventanilla sla ...`: run one sweep at a given time, show every waiting ticket's SLA clock."""

import json
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scheduler.jobs import run_daily_digest, run_sla_sweep
from tickets.db import read_only
from tickets.sla.digest import TicketClock, sla_status
from tickets.sla.sweep import FiredAlert, PlannedAlert, SweepPolicy, plan_sweep
from ventanilla.context import AppContext

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


def status_table(clocks: list[TicketClock], now: datetime, zone: ZoneInfo) -> Table:
    table = Table(title=f"Waiting for us at {now.astimezone(zone):%Y-%m-%d %H:%M %Z}")
    for column in ("#", "priority", "status", "requester", "subject", "waited", "deadline", "left", "next", "agent"):
        table.add_column(column)
    for c in clocks:
        style = _colour(c)
        table.add_row(
            str(c.ticket_id), c.priority, c.status, escape(c.requester), escape(c.subject[:40]),
            f"{c.waited_hours:.1f} h", f"{c.deadline.astimezone(zone):%a %d %H:%M}",
            f"[{style}]{c.left_hours:+.1f} h[/]", c.next_threshold or "-", escape(c.assigned_agent or "-"),
        )
    return table


@app.command()
def status(
    ctx: typer.Context,
    now: Annotated[str | None, typer.Option("--now", help="as of this ISO-8601 time")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Every ticket waiting for an answer, least time left first."""
    app_ctx: AppContext = ctx.obj
    at = parse_now(now, app_ctx)
    policy = SweepPolicy.from_settings(app_ctx.settings)
    with read_only(app_ctx.engine) as session:
        clocks = sla_status(session, now=at, policy=policy)
    if as_json:
        typer.echo(json.dumps([c.as_dict() for c in clocks], indent=2, ensure_ascii=False))
        return
    console.print(status_table(clocks, at, policy.sla.zone))
