"""Serves the web form with uvicorn inside an event loop that is already running (the worker's)."""

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from config.settings import ConfigError, Settings
from tickets.web.csrf import CsrfKey
from ventanilla.app import App
from ventanilla.faq import LiveFaq
from ventanilla.web.app import WebParts, build_web_app
from ventanilla.web.desk import WebDesk
from ventanilla.web.faq import Suggester

logger = logging.getLogger("ventanilla.web")


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves the signals to its host (the worker's stop event stops it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def load_suggester(settings: Settings) -> Suggester:
    """The FAQ matcher over `[faq] path` (none when off), read now; an entry that does not load is
    logged (one line) and left out. (The form of an App uses the App's, which SIGHUP reloads.)"""
    return LiveFaq(settings)  # the acknowledgement's thresholds ([faq] min_score, relative)


def make_web_parts(app: App, faq: Suggester | None = None) -> WebParts:
    """The form's pieces over the app (its settings carry the resolved secret)."""
    key = CsrfKey.from_secret(app.settings.helpdesk.secret.get_secret_value())
    return WebParts(
        settings=app.settings, clock=app.clock, key=key, desk=WebDesk(app, key), faq=faq if faq is not None else app.faq
    )


def bind(settings: Settings) -> socket.socket:
    """The listening socket of `[web] listen`, or ConfigError naming what is wrong."""
    host, port = settings.web.host_port()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, reuse_port=False)
    except OSError as exc:
        raise ConfigError(f"web.listen: cannot listen on {settings.web.listen}: {exc.strerror or exc}") from None
    # Accepted connections inherit it: without, a response written as headers then body waits
    # ~40 ms for the client's delayed ACK (Nagle), as asyncio's own create_server(host, port) avoids.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


async def serve(asgi: ASGIApp, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve on `sock` until `stop` is set; requests in progress finish first."""
    config = uvicorn.Config(
        asgi,
        log_config=None,
        access_log=False,  # an access log would keep addresses and what people type (/faq/suggest?q=)
        lifespan="off",
        server_header=False,
        proxy_headers=True,  # X-Forwarded-For only from forwarded_allow_ips (default 127.0.0.1)
        timeout_graceful_shutdown=10,
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        await task
        sock.close()


async def serve_web(app: App, stop: asyncio.Event, *, faq: Suggester | None = None) -> None:
    """The form from `[web] listen` on this loop, until `stop`."""
    sock = bind(app.settings)
    parts = make_web_parts(app, faq)
    logger.info("web form at %s", app.settings.web.url())
    try:
        await serve(build_web_app(parts), sock, stop)
    finally:
        parts.desk.close()
