"""A heartbeat: a blocking `renew` run in a worker thread every few seconds while a block runs."""

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType

logger = logging.getLogger(__name__)


class Heartbeat:
    """`async with Heartbeat(renew, every=30):` calls `renew()` every 30 s until the block ends.

    A failed renewal is logged and the beat goes on: what it keeps alive may lapse, the block
    does not stop for it.
    """

    def __init__(self, renew: Callable[[], object], *, every: float, name: str = "heartbeat") -> None:
        self._renew, self._every, self._name = renew, every, name
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "Heartbeat":
        self._task = asyncio.create_task(self._beat())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await asyncio.to_thread(self._renew)
            except Exception as exc:
                logger.warning("%s not renewed: %s", self._name, exc, extra={"action": "heartbeat_failed"})
