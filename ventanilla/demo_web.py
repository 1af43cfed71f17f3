"""The demo's web form: served for a moment on a free loopback port, and one citizen's submission."""

import asyncio
import http.cookiejar
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine

from config.settings import Settings
from config.web import WebSettings
from tickets.clock import Clock
from ventanilla.app import App
from ventanilla.web.server import serve_web

QUESTION = {
    "name": "Lucía Romero",
    "email": "lucia.romero@example.org",
    "subject": "No encuentro mi certificado en el navegador",
    "message": "Hola, obtuve ayer el certificado pero no aparece en Firefox. ¿Cómo lo instalo o lo exporto?",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _submit(url: str, fields: dict[str, str], wait: float) -> str:
    """A browser's visit: the page (its cookie and token), a person's pause, the POST."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(url, timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    time.sleep(wait)
    body = urllib.parse.urlencode({**fields, "csrf_token": token[1] if token else "", "website": ""}).encode()
    with opener.open(urllib.request.Request(url, data=body, method="POST"), timeout=30) as answer:
        return str(answer.read().decode())


def run_web_demo(settings: Settings, engine: Engine, clock: Clock, config: Path, console: Console) -> None:
    """Serve the form, send one question through it, stop; the ticket and its acknowledgement follow."""
    port = _free_port()
    web = WebSettings.model_validate({**settings.web.model_dump(), "listen": f"127.0.0.1:{port}"})
    app = App(settings.model_copy(update={"web": web}), engine, clock)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    server = threading.Thread(target=lambda: loop.run_until_complete(serve_web(app, stop)), daemon=True)
    server.start()
    url = web.url()
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        console.print(f"[bold]the web form[/bold] at {url} (for the demo): Lucía writes")
        answer = _submit(url, QUESTION, web.min_fill_seconds + 0.2)
    finally:
        loop.call_soon_threadsafe(stop.set)
        server.join(timeout=30)
        loop.close()
    reference = re.search(r"\[#(\d+)\]", answer)
    outcome = f"ticket [#{reference[1]}]" if reference else "no ticket yet (see `ventanilla mail list`)"
    console.print(escape(f"  the page shows her {outcome}; the acknowledgement is emailed"))
    console.print(escape(f"  serve it yourself: ventanilla -c {config} web --listen 127.0.0.1:8080"))
