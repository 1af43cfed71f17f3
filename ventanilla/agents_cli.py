"""`ventanilla agents list|away|back`: who is in which group, and who is away until when.

Round-robin (`[agents] assign = "round-robin"`) skips an agent marked away; group notifications
leave them out too (unless the whole group is away). Times are read and shown in the service's
zone (`[calendar] timezone`).
"""

import json
from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from tickets.agents import rotation
from tickets.db import read_only
from ventanilla.context import AppContext

app = typer.Typer(help="Agents: groups, and who is away until when.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True, soft_wrap=True)


def away_end(value: str, zone: ZoneInfo) -> datetime:
    """The end of an absence: a date means through that whole day; a time without a zone is local."""
    text = value.strip()
    moment = datetime.fromisoformat(text)  # ValueError when it is neither
    if len(text) == 10:  # a date alone: away through that day
        return datetime.combine(moment.date() + timedelta(days=1), time(0), tzinfo=zone)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _no_mail(result: object) -> tuple[()]:
    return ()


def _agent(app_ctx: AppContext, address: str) -> str:
    agent = address.strip().lower()
    if agent not in app_ctx.settings.helpdesk.agents:
        errors.print(f"{address}: not one of [helpdesk] agents", markup=False)
        raise typer.Exit(2)
    return agent


@app.command("away")
def away(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="the agent's address")],
    until: Annotated[str, typer.Option("--until", help="YYYY-MM-DD (through that day) or YYYY-MM-DDTHH:MM")],
) -> None:
    """Mark an agent away until a date: round-robin skips them, group mail leaves them out."""
    app_ctx: AppContext = ctx.obj
    agent, zone = _agent(app_ctx, address), ZoneInfo(app_ctx.settings.calendar.timezone)
    try:
        end = away_end(until, zone)
    except ValueError:
        errors.print(f"--until: {until!r} is not a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM)", markup=False)
        raise typer.Exit(2) from None
    if end <= app_ctx.clock.now():
        errors.print(f"--until: {until!r} is already past", markup=False)
        raise typer.Exit(2)
    app_ctx.app.run(lambda session, now: rotation.mark_away(session, agent, until=end, now=now), mail=_no_mail)
    console.print(f"{agent} is away until {end.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})")


@app.command("back")
def back(ctx: typer.Context, address: Annotated[str, typer.Argument(help="the agent's address")]) -> None:
    """An agent marked away is back now."""
    app_ctx: AppContext = ctx.obj
    agent = _agent(app_ctx, address)
    was_away = app_ctx.app.run(lambda session, now: rotation.mark_back(session, agent), mail=_no_mail)
    console.print(f"{agent} is back" if was_away else f"{agent} was not marked away")


@app.command("list")
def list_agents(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The agents, their groups, and who is away until when (in the service's zone)."""
    app_ctx: AppContext = ctx.obj
    settings, now = app_ctx.settings, app_ctx.clock.now()
    zone = ZoneInfo(settings.calendar.timezone)
    with read_only(app_ctx.engine) as session:
        away = {a: u for a, u in rotation.away_until(session).items() if u > now}
    rows = [
        {
            "agent": agent,
            "groups": [g.name for g in settings.agents.groups if agent in g.members],
            "away_until": away[agent].astimezone(zone).isoformat() if agent in away else None,
        }
        for agent in settings.helpdesk.agents
    ]
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Agents (assign: {settings.agents.assign}; times in {zone.key})")
    for column in ("agent", "groups", "away until"):
        table.add_column(column, overflow="fold")
    for row, agent in zip(rows, settings.helpdesk.agents, strict=True):
        until = f"{away[agent].astimezone(zone):%Y-%m-%d %H:%M}" if agent in away else "-"
        table.add_row(agent, ", ".join(row["groups"]) or "-", until)  # type: ignore[arg-type]
    console.print(table)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="agents")
