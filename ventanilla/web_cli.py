"""`ventanilla web`: the web form alone (the worker serves it too when `[web] listen` is set)."""

import asyncio
import logging
import sys
from typing import Annotated

import typer

from config.web import WebSettings
from ventanilla.context import AppContext

logger = logging.getLogger("ventanilla")


def web(
    ctx: typer.Context,
    listen: Annotated[str, typer.Option("--listen", help='host:port, instead of [web] listen ("127.0.0.1:8080")')] = "",
) -> None:
    """Serve the web form (submissions become tickets; `ventanilla run` sends the mail)."""
    from ventanilla.signals import stop_on_signals
    from ventanilla.web.server import serve_web

    app_ctx: AppContext = ctx.obj
    app_ctx.announce()
    settings = app_ctx.settings
    if listen:
        try:
            web_settings = WebSettings.model_validate({**settings.web.model_dump(), "listen": listen})
        except ValueError:
            print(f'error: --listen {listen!r}: expected "host:port", e.g. "127.0.0.1:8080"', file=sys.stderr)
            raise typer.Exit(2) from None
        settings = settings.model_copy(update={"web": web_settings})
        app_ctx.override_settings(settings)
    if not settings.web.listen:
        print('error: web.listen is empty: set [web] listen = "127.0.0.1:8080" or pass --listen', file=sys.stderr)
        raise typer.Exit(2)
    app = app_ctx.app

    async def main() -> None:
        stop = asyncio.Event()
        with stop_on_signals(stop):
            await serve_web(app, stop)

    print(f"web form: {settings.web.url()}", flush=True)
    asyncio.run(main())


def register(app: typer.Typer) -> None:
    app.command("web")(web)
