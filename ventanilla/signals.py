"""SIGINT/SIGTERM set the stop event (the current batch finishes first); SIGHUP reloads what an
operator may edit while the worker runs (the templates), without stopping anything."""

import asyncio
import logging
import signal
from collections.abc import Callable, Iterator
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


@contextmanager
def reload_on_hangup(*reloads: Callable[[], object]) -> Iterator[None]:
    """SIGHUP runs each of `reloads` in turn (each says itself what it did); one failing does not
    stop the others, nor the worker."""

    def reload_all() -> None:
        logger.info("SIGHUP: reloading", extra={"action": "reload"})
        for reload in reloads:
            try:
                reload()
            except Exception:
                logger.exception("reload failed: %s", getattr(reload, "__qualname__", reload))

    with _handling((signal.SIGHUP,), reload_all):
        yield
    ignore_hangup()  # the worker is stopping: a late reload request must not kill it (exit 0 stays 0)


def ignore_hangup() -> None:
    """SIGHUP does nothing (its default would end the process): while the worker starts or stops,
    and in `run --once`, when there is nothing to reload into."""
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    except ValueError:  # pragma: no cover - not on the main thread
        pass
