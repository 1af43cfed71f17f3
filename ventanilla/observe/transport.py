"""A transport that counts what went wrong on the way (ventanilla_smtp_errors_total), then passes
everything through unchanged: the sender's decisions do not change."""

from collections.abc import Callable, Sequence

from mailer.transport import Results, Transport
from ventanilla.observe.metrics import SMTP_KINDS, kind_of


class CountingTransport:
    """Wraps a transport; `count(kind)` for a failed send and for each refused recipient."""

    def __init__(self, inner: Transport, count: Callable[[str], None]) -> None:
        self._inner = inner
        self._count = count

    async def send(
        self, envelope_from: str, recipients: Sequence[str], raw: bytes, *, outbox_id: int | None = None
    ) -> Results:
        try:
            results = await self._inner.send(envelope_from, recipients, raw, outbox_id=outbox_id)
        except Exception as exc:
            self._count(kind_of(exc, SMTP_KINDS))
            raise
        for code, _ in results.values():
            if code >= 500:
                self._count("refused_permanent")
            elif code >= 400:
                self._count("refused_temporary")
        return results

    async def close(self) -> None:
        await self._inner.close()
