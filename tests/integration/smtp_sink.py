"""A real aiosmtpd server on 127.0.0.1 that records what it receives and answers as scripted.

    sink.script("data", "451 4.3.0 try later", "451 4.3.0 try later")  # then 250 again
    sink.script("greeting", "421 4.3.2 busy")   # next connection is refused at the greeting
    sink.script("data", "drop")                 # keep the message, cut the line before replying
    sink.refuse("c@example.org", "550 5.1.1 no such user")  # every RCPT TO:<c@...>
    sink.script("rcpt", "wait 5")               # a slow server: the next RCPT is answered in 5 s

Use the `smtp_sink` fixture (started, stopped after the test), `smtp_sink_factory` to start
more (e.g. on a fixed port, to bring a "down" server back), and `free_port`.
"""

import asyncio
import socket
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

__all__ = ["Received", "SmtpSink", "free_port", "smtp_sink", "smtp_sink_factory", "unused_port"]


@dataclass(frozen=True)
class Received:
    """One message the sink took: envelope and raw bytes as they came over the wire."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    peer: object = None  # the client's (host, port): which connection it came over

    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class _Script:
    lock: threading.Lock = field(default_factory=threading.Lock)
    replies: dict[str, deque[str]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    def take(self, stage: str) -> str | None:
        with self.lock:
            queue = self.replies.get(stage)
            return queue.popleft() if queue else None

    async def answer(self, stage: str) -> str | None:
        """The scripted reply of `stage` (None: as usual), after any "wait SECONDS" before it."""
        reply = self.take(stage)
        if reply and reply.startswith("wait "):
            await asyncio.sleep(float(reply.split()[1]))
            return None
        return reply


class _Handler:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        reply = await self.sink._script.answer("mail")
        if reply and not reply.startswith("2"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return reply or "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        self.sink.rcpt_log.append(address)
        reply = self.sink._script.refused.get(address.lower()) or await self.sink._script.answer("rcpt")
        if reply and not reply.startswith("2"):
            return reply
        envelope.rcpt_tos.append(address)
        return reply or "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        reply = await self.sink._script.answer("data")
        if reply and reply != "drop":
            return reply
        raw = envelope.original_content or envelope.content
        self.sink.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(raw), peer=session.peer))
        if reply == "drop":  # the message is kept, but the client never hears "250"
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
        return "250 2.0.0 queued as sink"


class _ScriptedSMTP(SMTP):
    async def _handle_client(self) -> None:
        handler: _Handler = self.event_handler
        handler.sink.connections += 1
        reply = handler.sink._script.take("greeting")
        if reply:
            await self.push(reply)
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()


class _Authenticator:
    """Accepts one user and password; anything else is 535."""

    def __init__(self, user: str, password: str) -> None:
        self._login = (user.encode(), password.encode())

    def __call__(self, server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == self._login
        return AuthResult(success=ok, handled=False)


class _Controller(Controller):
    def factory(self) -> SMTP:
        with warnings.catch_warnings():  # AUTH without TLS: on loopback, for tests, on purpose
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            return _ScriptedSMTP(self.handler, **self.SMTP_kwargs)


class SmtpSink:
    """An aiosmtpd server in a thread of this process, bound to 127.0.0.1."""

    def __init__(self, port: int, *, login: tuple[str, str] | None = None) -> None:
        """`login`: (user, password) the sink demands (AUTH PLAIN/LOGIN without TLS); none by default."""
        self.port = port
        self.received: list[Received] = []
        self.rcpt_log: list[str] = []
        self.connections = 0
        self._script = _Script()
        auth: dict[str, Any] = {}
        if login is not None:
            auth = {"authenticator": _Authenticator(*login), "auth_required": True, "auth_require_tls": False}
        self._controller = _Controller(_Handler(self), hostname="127.0.0.1", port=port, ready_timeout=5.0, **auth)

    def start(self) -> "SmtpSink":
        self._controller.start()
        self.connections = 0  # the controller's own readiness probe does not count
        return self

    def stop(self) -> None:
        self._controller.stop()

    def script(self, stage: str, *replies: str) -> None:
        """Answer the next commands of `stage` (greeting, mail, rcpt, data) with `replies`;
        "wait SECONDS" answers one command (mail, rcpt, data) as usual, that much later."""
        with self._script.lock:
            self._script.replies.setdefault(stage, deque()).extend(replies)

    def refuse(self, address: str, reply: str) -> None:
        """Answer every RCPT TO for `address` with `reply`."""
        self._script.refused[address.lower()] = reply

    def delivered_to(self, address: str) -> list[Received]:
        return [m for m in self.received if address in m.rcpt_tos]


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening (for "connection refused")."""
    return unused_port()


@pytest.fixture
def smtp_sink_factory() -> Iterator[Callable[..., SmtpSink]]:
    """Start sinks on demand (`factory(port=None, login=None)`); all are stopped after the test."""
    started: list[SmtpSink] = []

    def start(port: int | None = None, login: tuple[str, str] | None = None) -> SmtpSink:
        sink = SmtpSink(port or unused_port(), login=login).start()
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


@pytest.fixture
def smtp_sink(smtp_sink_factory: Callable[..., SmtpSink]) -> SmtpSink:
    """A running sink that accepts everything until scripted otherwise."""
    return smtp_sink_factory()
