"""`/metrics` (Prometheus text) and `/healthz` on `[metrics] listen`, served in the worker's own
event loop.

Why asyncio.start_server and not prometheus_client.start_http_server: that one runs a threaded
HTTP server of its own that answers the metrics on every path (so /healthz would need a WSGI
app beside it) and that nothing stops before the process ends. Here the server starts and stops
with the worker, a bind error stops the start-up with one line, requests are bounded (size, time,
two at once) and the database is read in a thread (asyncio.to_thread), never on the loop.
Only GET and HEAD; every answer closes its connection (HTTP/1.1, `Connection: close`).
"""

import asyncio
import json
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from tickets.status.facts import Health, StatusFacts

logger = logging.getLogger(__name__)
HEAD_LIMIT = 16 * 1024  # bytes of request head accepted
READ_SECONDS = 5.0  # a client that sends no complete request head within this is dropped
CONCURRENT = 2  # requests answered at once (each reads the database)
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
Check = Callable[[], tuple[StatusFacts | None, Health]]


class StatusServer:
    """Serves the registry's metrics and the health check until closed."""

    def __init__(self, registry: CollectorRegistry, check: Check) -> None:
        self._registry = registry
        self._check = check
        self._slots = asyncio.Semaphore(CONCURRENT)
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; the address actually bound (port 0 picks a free one). OSError when it cannot."""
        self._server = await asyncio.start_server(self._serve, host, port, limit=HEAD_LIMIT)
        bound = self._server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_SECONDS)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
                return
            method, path, accept = _request(head)
            async with self._slots:
                status, content_type, body = await self._answer(method, path, accept)
            await _respond(writer, status, content_type, b"" if method == "HEAD" else body, len(body))
        except ConnectionError:
            pass
        except Exception:  # a fault answering must never stop the worker
            logger.exception("status server: answering a request failed")
        finally:
            writer.close()

    async def _answer(self, method: str, path: str, accept: str) -> tuple[int, str, bytes]:
        if not method:
            return 400, "text/plain; charset=utf-8", b"bad request\n"
        if path not in ("/metrics", "/healthz"):
            return 404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n"
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", b"only GET and HEAD\n"
        if path == "/metrics":
            encode, content_type = choose_encoder(accept)  # OpenMetrics when the scraper asks for it
            return 200, content_type, await asyncio.to_thread(encode, self._registry)
        _, health = await asyncio.to_thread(self._check)
        body = json.dumps(health.as_dict(), ensure_ascii=False).encode() + b"\n"
        return (200 if health.ok else 503), "application/json", body


def _request(head: bytes) -> tuple[str, str, str]:
    """(method, path, Accept header) of a request head; ("", "", "") when it is not one."""
    first, *fields = head.decode("latin-1").split("\r\n")
    parts = first.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return "", "", ""
    accept = next((v.strip() for k, _, v in (f.partition(":") for f in fields) if k.strip().lower() == "accept"), "")
    return parts[0].upper(), urlsplit(parts[1]).path, accept


async def _respond(writer: asyncio.StreamWriter, status: int, content_type: str, body: bytes, length: int) -> None:
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()
