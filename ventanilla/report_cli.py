"""`ventanilla report --month YYYY-MM`: the monthly service report (the scheduler mails it on the 1st)."""

import logging
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from config.settings import Settings
from mailer.report_render import FORMATS, ReportFormatError, render
from tickets.db import read_only
from tickets.report.figures import ReportError
from tickets.report.queries import monthly_report
from ventanilla.context import AppContext

console = Console(stderr=True)
logger = logging.getLogger(__name__)


def report(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", help="YYYY-MM, in the service's time zone")],
    fmt: Annotated[str, typer.Option("--format", help="|".join(FORMATS))] = "text",
    lang: Annotated[str | None, typer.Option("--lang", help="es | en (default: [helpdesk] language)")] = None,
) -> None:
    """Print the monthly service report."""
    app_ctx: AppContext = ctx.obj
    settings = app_ctx.settings
    try:
        with read_only(app_ctx.engine) as session:
            figures = monthly_report(session, month=month, timezone=settings.calendar.timezone)
        text = render(figures, fmt, lang or settings.helpdesk.language, helpdesk=_helpdesk(settings))
    except (ReportError, ReportFormatError) as exc:
        console.print(f"[red]no report:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    sys.stdout.write(text)


def _helpdesk(settings: Settings) -> dict[str, str]:
    return {"name": settings.helpdesk.name, "address": settings.helpdesk.address}


def register(app: typer.Typer) -> None:
    app.command("report")(report)
