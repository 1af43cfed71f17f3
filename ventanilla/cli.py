"""The `ventanilla` command line.

Each command's module is imported when that command runs (ventanilla.lazy_cli): a command pays
for the libraries it uses, and `--help` and `--version` for none of them.
"""

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ventanilla.lazy_cli import Lazy, lazy_group

EX_DATAERR = 65  # sysexits: the MTA bounces the message (permanent)
EX_TEMPFAIL = 75
if TYPE_CHECKING:
    from tickets.ingest.spool import Spooled
    from ventanilla.context import AppContext
    from ventanilla.pipeline.process import Ingestor

# What `--help` lists, in this order; a bare name is a command defined in this module.
COMMANDS: tuple[Lazy | str, ...] = (
    Lazy(
        name="check",
        module="ventanilla.check_cli",
        help="Print the effective settings (secrets hidden) and try the database, the mailbox and SMTP.",
    ),
    Lazy(name="report", module="ventanilla.report_cli", help="Print the monthly service report."),
    Lazy(
        name="web",
        module="ventanilla.web_cli",
        help="Serve the web form (submissions become tickets; `ventanilla run` sends the mail).",
    ),
    Lazy(
        name="erase",
        module="ventanilla.retention_cli",
        help="Erase one person (GDPR): raw mail, texts, attachments and their address (a pseudonym stays).",
    ),
    Lazy(
        name="purge",
        module="ventanilla.retention_cli",
        help="Remove the raw mail and attachments of tickets closed before a day (tickets and figures stay).",
    ),
    Lazy(
        name="status",
        module="ventanilla.status_cli",
        help="How the service stands: spool, outbox, last poll, SLA; exit 1 when unhealthy.",
    ),
    "init",
    "run",
    "deliver",
    "demo",
    Lazy(name="tickets", module="ventanilla.tickets_cli", help="Look at tickets and quarantined mail."),
    Lazy(name="sla", module="ventanilla.sla_cli", help="SLA clocks: sweep for alerts, show time left."),
    Lazy(name="outbox", module="ventanilla.outbox_cli", help="Look at and drain the outgoing mail queue."),
    Lazy(name="phone", module="ventanilla.phone_cli", help="Phone calls: log one, import a call-centre log."),
    Lazy(
        name="mail",
        module="ventanilla.mail_cli",
        help="The mail log: every received message, what became of it, release.",
    ),
    Lazy(
        name="faq",
        module="ventanilla.faq_cli",
        help="FAQ suggestions: rank entries for a text, validate the folder.",
    ),
    Lazy(name="agents", module="ventanilla.agents_cli", help="Agents: groups, and who is away until when."),
)
app = typer.Typer(
    help="Ventanilla: a helpdesk email ticketing worker.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=lazy_group(*COMMANDS),
)
logger = logging.getLogger("ventanilla")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version as package_version

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
    from ventanilla.context import AppContext
    from ventanilla.logs import setup_logging
    from ventanilla.memory import give_large_blocks_back

    setup_logging(verbose)
    give_large_blocks_back()
    ctx.obj = AppContext(config)
    ctx.call_on_close(ctx.obj.close)


def _ctx(ctx: typer.Context) -> "AppContext":
    app_ctx: AppContext = ctx.obj
    return app_ctx


@app.command()
def init(ctx: typer.Context) -> None:
    """Create or upgrade the database (and the Maildir for a maildir inbox)."""
    from rich.console import Console

    console = Console(stderr=True)
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
    import asyncio

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
    from config.settings import ConfigError
    from tickets.errors import DatabaseUnavailableError
    from ventanilla.pipeline.failpoints import crash_point

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


def _read_message(app_ctx: "AppContext") -> bytes:
    """stdin, refused with a permanent error when over `limits.max_message_bytes`: the MTA bounces
    it, so the sender learns it did not arrive (and no more than the limit is ever held here)."""
    from config.settings import ConfigError

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


def _spool(app_ctx: "AppContext", mailbox: str, raw: bytes) -> tuple["Ingestor", "Spooled"]:
    from tickets.errors import DatabaseUnavailableError
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
    except Exception as exc:
        _stopped(exc)


def _stopped(exc: Exception) -> None:
    """A command that failed: a configuration or database error in one line, else a crash.
    (The classes are imported here, not at the top: whatever raised one has loaded its module.)"""
    from sqlalchemy.exc import DBAPIError

    from config.settings import ConfigError
    from mailer.errors import InsecureConnectionError, SourceAuthError, SourceUnavailableError
    from tickets.errors import DatabaseUnavailableError

    if isinstance(exc, ConfigError):
        print(f"error: {exc}", file=sys.stderr)  # one line, never wrapped
        sys.exit(exc.exit_code)  # 78 (EX_CONFIG)
    if isinstance(exc, DatabaseUnavailableError | DBAPIError):  # no schema yet, an old one, no server
        said = _explained(exc)
        if not said:
            _crashed()
        _stop(said, 1)
    if isinstance(exc, SourceUnavailableError):  # `run --once` and the mailbox is down: nothing was taken
        _stop(f"{exc}; nothing was taken, the mail waits in the mailbox", 75)  # EX_TEMPFAIL
    if isinstance(exc, SourceAuthError | InsecureConnectionError):  # the settings are wrong, not the mail
        _stop(f"{exc}; nothing was taken, the mail waits in the mailbox", 78)  # EX_CONFIG
    if isinstance(exc, OSError):  # a folder that cannot be made, a file that cannot be read: one line
        _stop(f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc), 74)  # EX_IOERR
    _crashed()


def _stop(said: str, code: int) -> None:
    """An error said in one line (one JSON line with JSON logs), then exit with `code`."""
    from ventanilla.logs import json_active

    if json_active():
        logger.error("%s", said, extra={"action": "error"})
    else:
        print(f"error: {said}", file=sys.stderr)
    sys.exit(code)


def _crashed() -> None:
    """An unexpected error: its traceback as usual, or inside one JSON line with JSON logs."""
    from ventanilla.logs import json_active

    if not json_active():
        raise  # noqa: PLE0704 - called from an except block: the error being handled
    logger.critical("stopped by an unexpected error", exc_info=True, extra={"action": "crash"})
    sys.exit(1)


def _explained(exc: Exception) -> str:
    from ventanilla.context import AppContext
    from ventanilla.database_errors import explain

    context = AppContext.last
    return "" if context is None or "engine" not in context.__dict__ else explain(context.engine, exc)


if __name__ == "__main__":
    main()
