"""Transports that hand a rendered message to the world: SMTP (aiosmtplib) and .eml files.

`send` returns per-recipient results `{rcpt: (code, reply)}` for every recipient the server
answered; failures that concern the whole message raise `TemporaryDeliveryError` (retry with
the same bytes) or `PermanentDeliveryError` (5xx; the server's code and text are kept).
"""

import asyncio
import os
import re
import tempfile
import time
from collections.abc import Sequence
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Protocol

import aiosmtplib

from config.settings import OutboundSettings
from mailer.errors import PermanentDeliveryError, TemporaryDeliveryError

Results = dict[str, tuple[int, str]]
IDLE_CHECK_SECONDS = 20.0  # a connection idle this long is probed with NOOP before reuse


class ServerUnreachableError(TemporaryDeliveryError):
    """The SMTP server cannot be reached or would not start a session; nothing was sent."""


class Transport(Protocol):
    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        *,
        outbox_id: int | None = None,
    ) -> Results: ...

    async def close(self) -> None: ...


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(str(message).split())}"[:1000]


def _classify(code: int, message: str) -> TemporaryDeliveryError | PermanentDeliveryError:
    text = _reply(code, message)
    return PermanentDeliveryError(text) if 500 <= code < 600 else TemporaryDeliveryError(text)


class SmtpTransport:
    """Sends over ONE reused aiosmtplib connection: connected lazily, reconnected if dropped."""

    def __init__(self, settings: OutboundSettings) -> None:
        self.settings = settings
        self._smtp: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        self._last_used = 0.0

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            timeout=s.timeout_seconds,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            validate_certs=True,
            username=s.username or None,
            password=s.password.get_secret_value() or None if s.username else None,
        )

    async def _alive(self, smtp: aiosmtplib.SMTP) -> bool:
        """Whether a reused connection still answers; checked only after it sat idle."""
        if not smtp.is_connected:
            return False
        if time.monotonic() - self._last_used < IDLE_CHECK_SECONDS:
            return True
        try:
            await smtp.noop()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            return False
        return True

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and await self._alive(self._smtp):
            return self._smtp
        await self._drop()
        smtp = self._client()
        try:
            await smtp.connect()
        except aiosmtplib.SMTPResponseException as exc:  # 421 at greeting, EHLO/AUTH refused
            smtp.close()
            raise ServerUnreachableError(_reply(exc.code, exc.message)) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            smtp.close()
            raise ServerUnreachableError(
                f"cannot connect to {self.settings.host}:{self.settings.port}: {exc}"
            ) from exc
        self._smtp = smtp
        self._last_used = time.monotonic()
        return smtp

    async def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        *,
        outbox_id: int | None = None,
    ) -> Results:
        """Send `raw` to `recipients`; per-recipient results, or a Temporary/Permanent error."""
        async with self._lock:
            smtp = await self._connected()
            try:
                refused, data_reply = await smtp.sendmail(envelope_from, list(recipients), raw)
            except aiosmtplib.SMTPRecipientsRefused as exc:  # nobody accepted: RSET was sent
                return {e.recipient: (e.code, _reply(e.code, e.message)) for e in exc.recipients}
            except aiosmtplib.SMTPResponseException as exc:  # MAIL FROM or DATA refused
                if exc.code == 421 or not smtp.is_connected:
                    await self._drop()
                raise _classify(exc.code, exc.message) from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                # Dropped or timed out mid-transaction, perhaps after the final dot: the outcome
                # is unknown, so it is retried later with the same bytes and Message-ID.
                await self._drop()
                raise TemporaryDeliveryError(f"connection lost while sending: {exc}") from exc
            finally:
                self._last_used = time.monotonic()
        results = {r: (r_code, _reply(r_code, r_msg)) for r, (r_code, r_msg) in refused.items()}
        for rcpt in recipients:
            results.setdefault(rcpt, (250, _reply(250, data_reply)))
        return results

    async def close(self) -> None:
        """QUIT politely, then drop the connection."""
        async with self._lock:
            if self._smtp is not None and self._smtp.is_connected:
                try:
                    await self._smtp.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    pass
            await self._drop()


_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def eml_name(raw: bytes, outbox_id: int | None) -> str:
    """`<outbox id>.eml`, else the sanitised Message-ID; never a path."""
    if outbox_id is not None:
        return f"{int(outbox_id)}.eml"
    headers = BytesHeaderParser().parsebytes(raw[:65536])
    stem = _UNSAFE.sub("_", str(headers.get("Message-ID", "")).strip("<> \t"))[:150].strip("._")
    return f"{stem or 'message'}.eml"


class FileTransport:
    """Writes each message atomically as an .eml file (the embedded default transport)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _write(self, name: str, raw: bytes) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        # Not "*.eml" until complete: a worker killed mid-write leaves a ".tmp-*.part" file that
        # nobody reading the folder's mail takes for a message.
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        *,
        outbox_id: int | None = None,
    ) -> Results:
        """Write the message; every recipient counts as accepted."""
        name = eml_name(raw, outbox_id)
        try:
            await asyncio.to_thread(self._write, name, raw)
        except OSError as exc:  # disk full, permissions: try again later
            raise TemporaryDeliveryError(f"cannot write {name}: {exc}") from exc
        return {rcpt: (250, f"250 written to {name}") for rcpt in recipients}

    async def close(self) -> None:
        return None


class TransportPool:
    """Several transports sending at once (one SMTP connection each): a send takes a free one."""

    def __init__(self, members: Sequence[Transport]) -> None:
        self.members = tuple(members)
        self._free: asyncio.Queue[Transport] = asyncio.Queue()
        for member in self.members:
            self._free.put_nowait(member)

    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        *,
        outbox_id: int | None = None,
    ) -> Results:
        member = await self._free.get()
        try:
            return await member.send(envelope_from, recipients, raw, outbox_id=outbox_id)
        finally:
            self._free.put_nowait(member)

    async def close(self) -> None:
        for member in self.members:
            await member.close()


def make_transport(settings: OutboundSettings) -> Transport:
    """The transport the settings ask for (`connections` SMTP sessions at once)."""
    if settings.kind == "smtp":
        if settings.connections > 1:
            return TransportPool([SmtpTransport(settings) for _ in range(settings.connections)])
        return SmtpTransport(settings)
    return FileTransport(settings.path)
