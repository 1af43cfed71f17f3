"""`ventanilla status [--json]`: how the service stands, for a person (the facts /healthz and
/metrics read, the same health verdict); exit 1 when unhealthy, with the reason."""

import json
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from tickets.status.facts import THRESHOLD_ORDER, Health, StatusFacts
from ventanilla.context import AppContext
from ventanilla.observe.facts import FactsReader

WIDTH = 80


def ago(delta: timedelta) -> str:
    """A duration for people: "12 s", "4 min", "2.5 h", "3.0 days"."""
    seconds = max(0.0, delta.total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}"


def _counts(counts: dict[str, int], order: tuple[str, ...]) -> str:
    keys = [k for k in order if counts.get(k)] + sorted(k for k in counts if k not in order and counts[k])
    return ", ".join(f"{counts[k]} {k}" for k in keys) or "none"


def _fit(label: str, text: str) -> str:
    line = f"{label:<10} {text}"
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def render_status(facts: StatusFacts, health: Health, zone: ZoneInfo) -> list[str]:
    """The status in lines of at most 80 columns; times in the service's zone, the zone named."""
    lines = [_fit("status", f"at {_local(facts.now, zone)} ({zone.key})")]
    lines.append(_fit("health", "ok" if health.ok else f"UNHEALTHY: {health.reason}"))
    if facts.polled_at is None:
        read = "never read successfully"
    else:
        read = f"last read {_local(facts.polled_at, zone)} ({ago(facts.poll_age or timedelta(0))} ago)"
    lines.append(_fit("mailbox", f"{facts.mailbox}: {read}"))
    if facts.lease_owner:
        lines.append(_fit("", f"read by {facts.lease_owner}"))
    new, failed = facts.receipts.get("received", 0), facts.receipts.get("failed", 0)
    lines.append(_fit("spool", f"{facts.spool_depth} waiting ({new} new, {failed} to retry), "
                               f"{facts.quarantined} quarantined"))
    queued = facts.outbox.get("queued", 0)
    oldest = f", oldest {ago(facts.oldest_queued_age)} old" if facts.oldest_queued_age is not None else ""
    lines.append(_fit("outbox", f"{queued} queued{oldest}; {facts.outbox.get('sent', 0)} sent, "
                                f"{facts.outbox.get('failed', 0)} failed"))
    if facts.oldest_due_wait:
        lines.append(_fit("", f"a due message has waited {ago(facts.oldest_due_wait)} for a send"))
    lines.append(_fit("tickets", _counts(dict(facts.tickets), ("open", "escalated", "pending", "resolved", "closed"))))
    lines.append(_fit("SLA", f"{facts.sla_nearing} nearing the response due time, {facts.sla_past} past it"))
    lines.append(_fit("alerts", f"sent: {_counts(dict(facts.sla_alerts), THRESHOLD_ORDER)}"))
    return lines


def status_json(facts: StatusFacts, health: Health, zone: ZoneInfo) -> dict[str, object]:
    """The same facts for programs: ISO 8601 times with their offset (in the service's zone)."""

    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(zone).isoformat()

    def seconds(delta: timedelta | None) -> float | None:
        return None if delta is None else round(delta.total_seconds(), 3)

    return {
        "now": iso(facts.now),
        "timezone": zone.key,
        "health": health.as_dict(),
        "mailbox": {"name": facts.mailbox, "last_poll": iso(facts.polled_at), "reader": facts.lease_owner or None},
        "spool": {"depth": facts.spool_depth, "quarantined": facts.quarantined, "by_status": dict(facts.receipts)},
        "outbox": {
            "queued": facts.outbox.get("queued", 0),
            "oldest_queued": iso(facts.oldest_queued_at),
            "oldest_queued_age_seconds": seconds(facts.oldest_queued_age),
            "oldest_due_wait_seconds": seconds(facts.oldest_due_wait),
            "by_status": dict(facts.outbox),
        },
        "tickets": dict(facts.tickets),
        "sla": {"nearing": facts.sla_nearing, "past": facts.sla_past, "alerts_sent": dict(facts.sla_alerts)},
    }


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """How the service stands: spool, outbox, last poll, SLA; exit 1 when unhealthy."""
    app_ctx: AppContext = ctx.obj
    zone = ZoneInfo(app_ctx.settings.calendar.timezone)
    facts, health = FactsReader(app_ctx.settings, app_ctx.engine, app_ctx.clock).check(totals=True)
    if facts is None:
        if as_json:
            typer.echo(json.dumps({"health": health.as_dict()}, ensure_ascii=False))
        typer.echo(f"unhealthy: {health.reason}"[:WIDTH], err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(status_json(facts, health, zone), indent=2, ensure_ascii=False))
    else:
        typer.echo("\n".join(render_status(facts, health, zone)))
    if not health.ok:
        if as_json:
            typer.echo(f"unhealthy: {health.reason}", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
