"""SIGINT/SIGTERM set the stop event (the current batch finishes first); SIGHUP reloads what an
operator may edit while the worker runs (the templates, the FAQ), without stopping anything."""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)


@contextmanager
def _handling(signals: tuple[signal.Signals, ...], action: Callable[[], object]) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, action)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on the main thread
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


@contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    with _handling((signal.SIGINT, signal.SIGTERM), stop.set):
        yield


Reload = Callable[[], str | Awaitable[str]]  # says what it did in a few words


@contextmanager
def reload_on_hangup(*reloads: Reload) -> Iterator[None]:
    """SIGHUP runs each of `reloads` in turn (one SIGHUP after the other), and one line says what
    each did. One failing does not stop the others, nor the worker. A slow one returns an awaitable
    and does its reading in a thread (a FAQ of 1,000 entries takes ~0.5 s to index); the templates
    are read on the event loop, as before."""
    one_at_a_time = asyncio.Lock()
    running: set[asyncio.Task[None]] = set()

    async def reload_all() -> None:
        async with one_at_a_time:
            said = [await _run(reload) for reload in reloads]
        logger.info("SIGHUP: %s", "; ".join(said), extra={"action": "reload"})

    def start() -> None:
        task = asyncio.get_running_loop().create_task(reload_all())
        running.add(task)
        task.add_done_callback(running.discard)

    try:
        with _handling((signal.SIGHUP,), start):
            yield
    finally:
        for task in running:
            task.cancel()  # the worker is stopping: what a reload read would not be used
    ignore_hangup()  # the worker is stopping: a late reload request must not kill it (exit 0 stays 0)


async def _run(reload: Reload) -> str:
    name = getattr(getattr(reload, "func", reload), "__qualname__", repr(reload))  # a partial: its function
    try:
        said = reload()
        return said if isinstance(said, str) else await said
    except Exception:
        logger.exception("reload failed: %s", name)
        return f"{name} failed"


def ignore_hangup() -> None:
    """SIGHUP does nothing (its default would end the process): while the worker starts or stops,
    and in `run --once`, when there is nothing to reload into."""
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    except ValueError:  # pragma: no cover - not on the main thread
        pass
