"""`ventanilla erase --email ADDR` (the right to erasure) and `ventanilla purge --before DAY`
(raw mail and attachments of old closed tickets). Both show what they would remove and ask
before doing it, unless `--yes`; the monthly report gives the same figures afterwards."""

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from sqlmodel import Session

from tickets.db import read_only, unit_of_work
from tickets.retention import erase as erasure
from tickets.retention.purge import purge as purge_closed
from ventanilla.context import AppContext

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)
Work = Callable[[Session], dict[str, int]]


class _Preview(Exception):  # noqa: N818  # not an error: carries the counts out of a rolled-back unit of work
    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts


def _preview(app_ctx: AppContext, work: Work) -> dict[str, int]:
    """What `work` would remove: done in a transaction that is rolled back."""
    try:
        with unit_of_work(app_ctx.engine) as session:
            raise _Preview(work(session))
    except _Preview as preview:
        return preview.counts


def _print(counts: dict[str, int], indent: str = "  ") -> None:
    for kind, n in counts.items():
        console.print(f"{indent}{kind}: {n:,}", markup=False, highlight=False)


def _confirmed(app_ctx: AppContext, work: Work, question: str, yes: bool) -> dict[str, int] | None:
    """Run `work` for good once the operator agrees (at once with --yes); None if they did not."""
    if not yes:
        console.print("would remove:", markup=False)
        _print(_preview(app_ctx, work))
        if not typer.confirm(question, default=False, err=True):
            return None
    with unit_of_work(app_ctx.engine) as session:
        return work(session)


def erase(
    ctx: typer.Context,
    email: Annotated[str, typer.Option("--email", help="the person's address")],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
) -> None:
    """Erase one person (GDPR): raw mail, texts, attachments and their address (a pseudonym stays)."""
    app_ctx: AppContext = ctx.obj
    who = email.strip().lower()
    if "@" not in who or any(c.isspace() for c in who):
        errors.print(f"--email: {email!r} is not an email address", markup=False)
        raise typer.Exit(2)
    with read_only(app_ctx.engine) as session:
        known = erasure.is_known(session, who)
    if not known:
        errors.print(f"no data about {who}: nothing erased", markup=False)
        raise typer.Exit(1)
    key = app_ctx.secret.value.encode()
    now = app_ctx.clock.now()
    alias = erasure.pseudonym(who, key)

    def work(session: Session) -> dict[str, int]:
        return erasure.erase(session, who, key=key, now=now)

    counts = _confirmed(app_ctx, work, f"Erase {who} for good?", yes)
    if counts is None:
        errors.print("nothing erased", markup=False)
        raise typer.Exit(1)
    console.print(f"erased {who}; it reads {alias} from now on. Removed:", markup=False, highlight=False)
    _print(counts)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.print(f"--before: {value!r} is not a date (YYYY-MM-DD)", markup=False)
        raise typer.Exit(2) from None


def purge(
    ctx: typer.Context,
    before: Annotated[str, typer.Option("--before", help="YYYY-MM-DD: tickets closed before this day")],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
) -> None:
    """Remove the raw mail and attachments of tickets closed before a day (tickets and figures stay)."""
    app_ctx: AppContext = ctx.obj
    zone = ZoneInfo(app_ctx.settings.calendar.timezone)
    start = datetime.combine(_day(before), time(0), tzinfo=zone)
    now = app_ctx.clock.now()

    def work(session: Session) -> dict[str, int]:
        return purge_closed(session, before=start, now=now)

    counts = _confirmed(app_ctx, work, f"Remove them (tickets closed before {start:%Y-%m-%d} {zone.key})?", yes)
    if counts is None:
        errors.print("nothing purged", markup=False)
        raise typer.Exit(1)
    console.print(f"purged tickets closed before {start:%Y-%m-%d %H:%M} {zone.key}:", markup=False)
    _print(counts)


def register(app: typer.Typer) -> None:
    app.command("erase")(erase)
    app.command("purge")(purge)
