"""Parse a batch in child processes while this process stores the messages before them.

Parsing is pure CPU and needs nothing from the database, so a batch's messages are handed to
a small process pool (the worker's other core) the moment the batch arrives; ingest takes
each result when it reaches that message, by then usually parsed. A batch of one (`deliver`,
a single new mail after IDLE, a retry one message at a time) is parsed here: starting a child
would cost more than it saves; but a retried message (it failed once: it may be one that
parses forever) is always parsed in a process. The same processes write the batch's outgoing mail
(`submit`, from ventanilla.pipeline.outgoing) once parsing is done. Work the processes have not started when
its result is wanted is cancelled there and done here: this process never waits idle for a queue.

`limits.parse_seconds` bounds a parse (D42). A result from a process is waited for that long at
most, counted from when it is wanted (the messages before it have been stored by then, so the
wait is at most that message's own parse); past it the pool is killed (a stuck child must not
keep a core) and replaced, and the message raises ParseTimeoutError, one failed attempt of its
own; the others of its batch are parsed again by the new pool. A thread cannot be stopped, so a
parse done here is timed instead: over the limit it raises the same error once done. That stall
happens at most once per message, since its retry is parsed in a process (with `parse_processes
= 0` every parse is done here, timed, and the other limits are all that bound it).
"""

import multiprocessing
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import TypeVar

from mailer.errors import MailerError
from tickets.values import IncomingMessage

Parse = Callable[[bytes], IncomingMessage]
Parsed = Callable[[], IncomingMessage]
WORKER_CHECK_SECONDS = 1.0
LARGE_MESSAGE = 1024 * 1024  # bytes: parsed in a process even alone, never taken back
T = TypeVar("T")
R = TypeVar("R")


class ParserCrashedError(MailerError):
    """The child process parsing this batch died; the message counts one failed attempt."""


class ParseTimeoutError(MailerError):
    """Parsing this message took longer than limits.parse_seconds; the message counts one failed attempt."""


class _Once:
    """A parse taken at most once: its message, or the error it raised, kept for a second store."""

    def __init__(self, take: Parsed) -> None:
        self._take: Parsed | None = take
        self._result: IncomingMessage | None = None
        self._error: BaseException | None = None

    def __call__(self) -> IncomingMessage:
        if self._take is not None:
            take, self._take = self._take, None
            try:
                self._result = take()
            except Exception as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def exit_with_worker(worker_pid: int) -> None:
    """Runs first in each child: end it once the worker that started it is gone.

    A SIGKILLed worker cannot stop its pool, and a pool child waiting for work never sees the end
    of its queue (it holds copies of the pipes it would wait on), so it watches the worker itself.
    """

    def watch() -> None:
        while _running(worker_pid):
            time.sleep(WORKER_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-worker", daemon=True).start()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")  # a zombie is gone
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


class ParseAhead:
    """Starts parsing a whole batch at once; each message's result is taken when needed."""

    def __init__(self, parse: Parse, processes: int = 0, *, min_batch: int = 2, seconds: float = 5.0) -> None:
        self._parse = parse
        self._processes = processes
        self._min_batch = min_batch
        self._seconds = seconds  # limits.parse_seconds
        self._pool: ProcessPoolExecutor | None = None
        self._killed: weakref.WeakSet[ProcessPoolExecutor] = weakref.WeakSet()

    def start(self, raws: Sequence[bytes], *, retried: bool = False) -> list[Parsed]:
        """One callable per message, in order: it returns the parsed message or raises what parsing raised
        (ParseTimeoutError past limits.parse_seconds).

        A large message is always parsed in a process, and waited for: parsing needs several times
        its size in memory (the email package keeps its lines as text), which the worker then
        never holds beside the batch it stores. So is a `retried` one, where it can be stopped."""
        large = any(len(raw) >= LARGE_MESSAGE for raw in raws)
        if self._processes < 1 or (len(raws) < self._min_batch and not large and not retried):
            return [_Once(partial(self._timed, raw)) for raw in raws]
        pool = self._running_pool()
        try:
            futures = [pool.submit(self._parse, raw) for raw in raws]
        except BrokenProcessPool:
            self._pool = None  # died between two batches: parse this one here
            return [_Once(partial(self._timed, raw)) for raw in raws]
        take_back = len(raws) >= self._min_batch
        return [
            _Once(partial(self._result, pool, future, raw, take_back=take_back and len(raw) < LARGE_MESSAGE))
            for future, raw in zip(futures, raws, strict=True)
        ]

    def _timed(self, raw: bytes) -> IncomingMessage:
        """Parse here; a parse over the limit fails once it is done (a thread cannot be stopped)."""
        started = time.monotonic()
        msg = self._parse(raw)
        took = time.monotonic() - started
        if took > self._seconds:
            raise ParseTimeoutError(f"parsing took {took:.1f} s, over limits.parse_seconds={self._seconds:g}")
        return msg

    def submit(self, fn: Callable[[list[T]], list[R]], items: list[T]) -> Callable[[], list[R]]:
        """Start `fn(items)` in a process (queued behind the parsing already started); a callable
        that returns its result, or computes it here when there are no processes or few items.
        `fn` must be picklable: a module function or a partial of one."""
        if self._processes < 1 or len(items) < self._min_batch:
            return partial(fn, items)
        try:
            future = self._running_pool().submit(fn, items)
        except BrokenProcessPool:
            self._pool = None
            return partial(fn, items)
        return partial(self._result_or_here, self._pool, future, fn, items)

    def _result_or_here(
        self,
        pool: ProcessPoolExecutor | None,
        future: "Future[list[R]]",
        fn: Callable[[list[T]], list[R]],
        items: list[T],
    ) -> list[R]:
        if future.cancel():  # not started yet: the processes are behind, so this one does it now
            return fn(items)
        try:
            return future.result()
        except (BrokenProcessPool, CancelledError):
            if self._pool is pool:
                self._pool = None  # a fresh pool for the next batch; this work is done here
            return fn(items)

    def _running_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Not fork: the worker has threads (the event loop, the database pool). Children of a
            # fork server that has imported the parser share its pages: about half the memory of
            # spawned ones (measured by bench.ingest).
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["mailer.parse", "mailer.drafts"])
            self._pool = ProcessPoolExecutor(
                max_workers=self._processes,
                mp_context=context,
                initializer=exit_with_worker,
                initargs=(os.getpid(),),
            )
        return self._pool

    def _result(
        self, pool: ProcessPoolExecutor, future: "Future[IncomingMessage]", raw: bytes, *, take_back: bool
    ) -> IncomingMessage:
        if take_back and future.cancel():  # not started: parse it here rather than wait for the queue ahead
            return self._timed(raw)
        try:
            return future.result(timeout=self._seconds)
        except TimeoutError as exc:
            self._kill(pool)
            raise ParseTimeoutError(f"parsing took over limits.parse_seconds={self._seconds:g} s") from exc
        except (BrokenProcessPool, CancelledError) as exc:
            if pool in self._killed:  # killed for another message's time, not this one's fault: again
                fresh = self._running_pool()
                return self._result(fresh, fresh.submit(self._parse, raw), raw, take_back=False)
            if self._pool is pool:
                self._pool = None  # a fresh pool for the next batch
            raise ParserCrashedError("the parsing process died on this message or one beside it") from exc

    def _kill(self, pool: ProcessPoolExecutor) -> None:
        """Kill a pool stuck on a message and forget it; the next parse starts a new one."""
        self._killed.add(pool)
        for process in list((pool._processes or {}).values()):  # no public way before Python 3.14
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        if self._pool is pool:
            self._pool = None

    def close(self) -> None:
        """Stop the children (pending work is dropped: nothing was committed from it)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
