"""The `ventanilla` command line."""

import asyncio
import logging
import sys
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from config.settings import ConfigError
from mailer.errors import InsecureConnectionError, SourceAuthError, SourceUnavailableError
from tickets.errors import DatabaseUnavailableError
from ventanilla import (
    agent_cli,
    agents_cli,
    attachments_cli,
    check_cli,
    faq_cli,
    mail_cli,
    outbox_cli,
    phone_cli,
    report_cli,
    retention_cli,
    sla_cli,
    tickets_cli,
    web_cli,
)
from ventanilla.context import AppContext
from ventanilla.logs import json_active, setup_logging
from ventanilla.memory import give_large_blocks_back
from ventanilla.pipeline.failpoints import crash_point
from ventanilla.status_cli import register as register_status

EX_DATAERR = 65  # sysexits: the MTA bounces the message (permanent)
EX_TEMPFAIL = 75
if TYPE_CHECKING:
    from tickets.ingest.spool import Spooled
    from ventanilla.pipeline.process import Ingestor
app = typer.Typer(
    help="Ventanilla: a helpdesk email ticketing worker.", no_args_is_help=True, pretty_exceptions_enable=False
)
agent_cli.register(tickets_cli.app)
attachments_cli.register(tickets_cli.app)
app.add_typer(tickets_cli.app, name="tickets")
app.add_typer(sla_cli.app, name="sla")
app.add_typer(outbox_cli.app, name="outbox")
check_cli.register(app)
app.add_typer(phone_cli.app, name="phone")
report_cli.register(app)
mail_cli.register(app)
web_cli.register(app)
app.add_typer(faq_cli.app, name="faq")
agents_cli.register(app)
retention_cli.register(app)
register_status(app)
console = Console(stderr=True)
logger = logging.getLogger("ventanilla")


def _version(value: bool) -> None:
    if value:
        print(f"ventanilla {package_version('ventanilla')}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML settings file (or VENTANILLA_CONFIG)")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    setup_logging(verbose)
    give_large_blocks_back()
    ctx.obj = AppContext(config)
    ctx.call_on_close(ctx.obj.close)


def _ctx(ctx: typer.Context) -> AppContext:
    app_ctx: AppContext = ctx.obj
    return app_ctx


@app.command()
def init(ctx: typer.Context) -> None:
    """Create or upgrade the database (and the Maildir for a maildir inbox)."""
    app_ctx = _ctx(ctx)
    app_ctx.announce()
    generated = app_ctx.prepare_database()
    source = app_ctx.secret.source  # checks a configured secret too (SecretError: exit 78)
    if app_ctx.settings.inbox.kind == "maildir":
        from mailer.maildir import MaildirSource

        MaildirSource(app_ctx.settings.inbox).open()
    console.print(f"database ready: {app_ctx.engine.url.render_as_string(hide_password=True)}")
    console.print("secret: generated now and kept in the database" if generated else f"secret: {source}")


@app.command()
def run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="take what is waiting, send what is queued, then exit")] = False,
) -> None:
    """Run the worker: poll the mailbox, turn mail into tickets, send the outbox.

    With --once: exit 75 when the mailbox or the mail server could not be reached (nothing is lost:
    the mail waits there, or in the outbox)."""
    from ventanilla.runner import run_worker

    app_ctx = _ctx(ctx)
    app_ctx.announce()
    code = asyncio.run(run_worker(app_ctx, once=once))
    if code:
        raise typer.Exit(code)


@app.command()
def deliver(
    ctx: typer.Context,
    mailbox: Annotated[str, typer.Option(help="name recorded as the message's mailbox")] = "pipe",
) -> None:
    """MTA pipe entry point: read one message on stdin; exit 0 once it is in the spool, 75 to retry."""
    app_ctx = _ctx(ctx)
    raw = _read_message(app_ctx)
    try:
        ingestor, receipt = _spool(app_ctx, mailbox, raw)
    except (DatabaseUnavailableError, ConfigError, OSError) as exc:
        logger.error("cannot store the message now (%s); the MTA will retry", exc)
        raise typer.Exit(EX_TEMPFAIL) from None
    except Exception:
        logger.exception("unexpected failure; the MTA will retry")
        raise typer.Exit(EX_TEMPFAIL) from None
    # From here on the message is committed: whatever processing does, the MTA may let it go.
    crash_point("deliver:spooled")
    try:
        print(_process_spooled(ingestor, receipt))
    finally:
        ingestor.close()


def _read_message(app_ctx: AppContext) -> bytes:
    """stdin, refused with a permanent error when over `limits.max_message_bytes`: the MTA bounces
    it, so the sender learns it did not arrive (and no more than the limit is ever held here)."""
    try:
        limit = app_ctx.settings.limits.max_message_bytes
    except ConfigError as exc:
        logger.error("cannot store the message now (%s); the MTA will retry", exc)
        raise typer.Exit(EX_TEMPFAIL) from None
    raw = sys.stdin.buffer.read(limit + 1)
    if len(raw) > limit:
        print(f"5.3.4 message too big for the helpdesk: over {limit} bytes", file=sys.stderr)
        logger.info("refused a message over %s bytes (5.3.4): the MTA bounces it", limit)
        raise typer.Exit(EX_DATAERR)
    return raw


def _spool(app_ctx: AppContext, mailbox: str, raw: bytes) -> tuple["Ingestor", "Spooled"]:
    from ventanilla.spooling import spool_raw
    from ventanilla.wiring import make_ingestor

    try:
        app_ctx.prepare_database()
    except Exception as exc:  # an unreachable database surfaces here first
        raise DatabaseUnavailableError(str(exc)) from exc
    ingestor = make_ingestor(app_ctx.app)
    return ingestor, spool_raw(ingestor, mailbox, raw, app_ctx.clock.now())


def _process_spooled(ingestor: "Ingestor", receipt: "Spooled") -> str:
    """Process the message just spooled; what became of it, in one line."""
    from tickets.values import IngestAction

    if not receipt.fresh:
        return f"already received (receipt {receipt.id}: {receipt.status})"
    try:
        result = ingestor.process_batch([receipt])[0]
    except Exception as exc:  # an outage or a setting: the message waits in the spool
        logger.error("spooled as receipt %s; processing failed (%s): the worker will retry", receipt.id, exc)
        return f"spooled (receipt {receipt.id}), not processed yet; the worker will retry:\n  {exc}"
    if result.action in (IngestAction.ERROR, IngestAction.WAITING):
        return f"spooled (receipt {receipt.id}), not processed yet; the worker will retry:\n  {result.reason}"
    ticket = f" ticket #{result.ticket_id}" if result.ticket_id else ""
    return f"{result.action}{ticket} (receipt {receipt.id})"


@app.command()
def demo(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Option("--dir", help="where the demo writes its files")] = Path("var/demo"),
) -> None:
    """Run Ventanilla on realistic support mail with no server at all."""
    from ventanilla.demo import run_demo

    run_demo(directory)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)  # one line, never wrapped
        sys.exit(exc.exit_code)  # 78 (EX_CONFIG)
    except (DatabaseUnavailableError, DBAPIError) as exc:  # no schema yet, an old one, no server
        said = _explained(exc)
        if not said:
            _crashed()
        _stop(said, 1)
    except SourceUnavailableError as exc:  # `run --once` and the mailbox is down: nothing was taken
        _stop(f"{exc}; nothing was taken, the mail waits in the mailbox", 75)  # EX_TEMPFAIL
    except (SourceAuthError, InsecureConnectionError) as exc:  # the settings are wrong, not the mail
        _stop(f"{exc}; nothing was taken, the mail waits in the mailbox", 78)  # EX_CONFIG
    except OSError as exc:  # a folder that cannot be made, a file that cannot be read: said in one line
        _stop(f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc), 74)  # EX_IOERR
    except Exception:
        _crashed()


def _stop(said: str, code: int) -> None:
    """An error said in one line (one JSON line with JSON logs), then exit with `code`."""
    if json_active():
        logger.error("%s", said, extra={"action": "error"})
    else:
        print(f"error: {said}", file=sys.stderr)
    sys.exit(code)


def _crashed() -> None:
    """An unexpected error: its traceback as usual, or inside one JSON line with JSON logs."""
    if not json_active():
        raise  # noqa: PLE0704 - called from an except block: the error being handled
    logger.critical("stopped by an unexpected error", exc_info=True, extra={"action": "crash"})
    sys.exit(1)


def _explained(exc: Exception) -> str:
    from ventanilla.database_errors import explain

    context = AppContext.last
    return "" if context is None or "engine" not in context.__dict__ else explain(context.engine, exc)


if __name__ == "__main__":
    main()
