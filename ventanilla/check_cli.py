"""`ventanilla check`: the effective settings (secrets hidden) and a try of each server."""

import asyncio
import json
from collections.abc import Callable

import typer
from pydantic import SecretStr
from rich.console import Console
from sqlalchemy import text

from config.settings import Settings
from ventanilla.context import AppContext

console = Console()


def _hide(value: object) -> object:
    if isinstance(value, SecretStr):
        return "********" if value.get_secret_value() else ""
    if isinstance(value, dict):
        return {k: _hide(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide(v) for v in value]
    return value


def effective_settings(settings: Settings) -> dict[str, object]:
    """Every setting as it is in force, secrets replaced by stars."""
    return {name: _hide(getattr(settings, name).model_dump()) for name in Settings.model_fields}


def _secret(app_ctx: AppContext) -> str:
    """Where the helpdesk secret comes from; never its value."""
    return f"from the {app_ctx.secret.source}"


def _database(app_ctx: AppContext) -> str:
    with app_ctx.engine.connect() as conn:
        conn.execute(text("select 1"))
    return app_ctx.engine.url.render_as_string(hide_password=True)


def _inbox(app_ctx: AppContext) -> str:
    from ventanilla.wiring import make_source

    source = make_source(app_ctx.settings)
    try:
        source.open()
        state = source.scan(after_uid=0)
    finally:
        source.close()
    return f"{app_ctx.settings.inbox.kind} {app_ctx.settings.inbox.name}: {len(state.uids)} waiting"


def _outbound(app_ctx: AppContext) -> str:
    from mailer.transport import SmtpTransport

    outbound = app_ctx.settings.outbound
    if outbound.kind == "file":
        return f"file transport into {outbound.path}"

    async def connect() -> None:
        transport = SmtpTransport(outbound)
        try:
            await transport._connected()  # noqa: SLF001 - the same connection the sender uses
        finally:
            await transport.close()

    asyncio.run(connect())
    return f"smtp {outbound.host}:{outbound.port} ({outbound.security}) accepted the connection"


def _faq(app_ctx: AppContext) -> int:
    """The FAQ folder: its entries, and one warning line per file that does not parse (the worker skips
    them); 1 when the folder itself is missing."""
    from ventanilla.faq import check_faq

    checked = check_faq(app_ctx.settings)
    if checked is None:
        console.print("[green]ok[/green]   faq: off ([faq] path is empty)", highlight=False)
        return 0
    count, problems = checked
    if count == 0 and len(problems) == 1 and problems[0].message == "not a folder":
        console.print(f"[red]fail[/red] faq: {problems[0].line()}", highlight=False)
        return 1
    console.print(f"[green]ok[/green]   faq: {count} entries from {app_ctx.settings.faq.path}", highlight=False)
    for problem in problems:
        console.print(f"[yellow]warn[/yellow] faq: skipped {problem.line()}", highlight=False, soft_wrap=True)
    return 0


def register(app: typer.Typer) -> None:
    @app.command()
    def check(ctx: typer.Context) -> None:
        """Print the effective settings (secrets hidden) and try the database, the mailbox and SMTP."""
        app_ctx: AppContext = ctx.obj
        app_ctx.announce()
        print(json.dumps(effective_settings(app_ctx.settings), indent=2, default=str, ensure_ascii=False))
        probes: list[tuple[str, Callable[[AppContext], str]]] = [
            ("database", _database),
            ("secret", _secret),
            ("inbox", _inbox),
            ("outbound", _outbound),
        ]
        failed = 0
        for name, probe in probes:
            try:
                console.print(f"[green]ok[/green]   {name}: {probe(app_ctx)}", highlight=False)
            except Exception as exc:  # report every failure, then exit non-zero
                failed += 1
                console.print(f"[red]fail[/red] {name}: {type(exc).__name__}: {exc}", highlight=False)
        failed += _faq(app_ctx)
        if failed:
            raise typer.Exit(1)
