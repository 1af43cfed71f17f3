"""Parsing a batch in a child process: same results as parsing here, and a dead child loses nothing."""

import os
import signal
import time
from functools import partial

import pytest

from mailer.errors import UnparseableMessageError
from mailer.parse import ParsePolicy, parse_message
from tests.corpus import realistic_backlog
from tickets.values import IncomingMessage
from ventanilla.pipeline.offload import ParseAhead, ParserCrashedError, ParseTimeoutError

PARSE = partial(parse_message, policy=ParsePolicy())


def _die_on_marker(raw: bytes) -> IncomingMessage:
    """A parser that kills its own process on one message (a segfault in a C extension, the OOM killer)."""
    if b"KILL-THE-PARSER" in raw:
        os.kill(os.getpid(), signal.SIGKILL)
    return PARSE(raw)


@pytest.fixture
def raws() -> list[bytes]:
    return [m["raw"] for m in realistic_backlog(12)]


def test_a_batch_parsed_in_a_child_equals_parsing_here(raws: list[bytes]) -> None:
    ahead = ParseAhead(PARSE, processes=1)
    try:
        parsed = [take() for take in ahead.start(raws)]
        assert ahead._pool is not None  # it really went to a child process
    finally:
        ahead.close()
    assert parsed == [PARSE(raw) for raw in raws]


def test_a_single_message_is_parsed_here_without_a_child(raws: list[bytes]) -> None:
    ahead = ParseAhead(PARSE, processes=1)
    (take,) = ahead.start(raws[:1])
    assert take() == PARSE(raws[0]) and ahead._pool is None


def test_errors_come_back_with_their_message(raws: list[bytes]) -> None:
    ahead = ParseAhead(PARSE, processes=1)
    try:
        takes = ahead.start([raws[0], b"   ", raws[1]])
        assert takes[0]() == PARSE(raws[0])
        with pytest.raises(UnparseableMessageError, match="empty message"):
            takes[1]()
        assert takes[2]() == PARSE(raws[1])
    finally:
        ahead.close()


def test_a_dead_child_fails_its_batch_and_the_next_batch_gets_a_new_one(raws: list[bytes]) -> None:
    ahead = ParseAhead(_die_on_marker, processes=1)
    try:
        poison = raws[3].replace(b"Subject: ", b"Subject: KILL-THE-PARSER ", 1)
        takes = ahead.start([raws[0], poison, raws[1]])
        outcomes = []
        for take in takes:
            try:
                outcomes.append(take())
            except ParserCrashedError:
                outcomes.append(None)
        assert outcomes[1] is None  # the poison message never comes back parsed
        again = [take() for take in ahead.start(raws[4:8])]
        assert again == [PARSE(raw) for raw in raws[4:8]]
    finally:
        ahead.close()


WORKER = """
import sys, time
from functools import partial
from mailer.parse import ParsePolicy, parse_message
from ventanilla.pipeline.offload import ParseAhead
from tests.corpus import realistic_backlog
ahead = ParseAhead(partial(parse_message, policy=ParsePolicy()), processes=1)
[take() for take in ahead.start([m["raw"] for m in realistic_backlog(3)])]
print(*ahead._pool._processes, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return "zombie" not in status.read()
    except FileNotFoundError:
        return False


def test_parsing_processes_end_when_the_worker_is_killed() -> None:
    import subprocess
    import sys
    import time
    from pathlib import Path

    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    assert worker.stdout is not None
    children = [int(pid) for pid in worker.stdout.readline().split()]
    assert children and all(_alive(pid) for pid in children)
    worker.kill()  # SIGKILL: nothing in the worker gets to stop its pool
    worker.wait(10)
    worker.stdout.close()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children), "a parsing process outlived the worker"


def _slow_on_marker(raw: bytes) -> IncomingMessage:
    """A parser that takes its time over one message, so everything queued behind it waits."""
    if b"SLOW-DOWN" in raw:
        time.sleep(3)
    return PARSE(raw)


def _pid_of(items: list[bytes]) -> list[int]:
    return [os.getpid() for _ in items]


def test_work_the_child_has_not_started_is_done_here_instead_of_waited_for(raws: list[bytes]) -> None:
    ahead = ParseAhead(_slow_on_marker, processes=1)
    try:
        takes = ahead.start([raws[0].replace(b"Subject:", b"X-Test: SLOW-DOWN\r\nSubject:", 1), *raws[1:]])
        later = ahead.submit(_pid_of, [b"a", b"b"])  # queued behind the whole batch
        started = time.monotonic()
        assert takes[-1]() == PARSE(raws[-1])  # not started there (the child is busy): parsed here at once
        assert later() == [os.getpid()] * 2  # likewise: this process did it
        assert time.monotonic() - started < 2.5
        assert takes[0]().subject == PARSE(raws[0]).subject  # the slow one finishes in the child
    finally:
        ahead.close()


def test_submitted_work_runs_in_the_child_when_it_is_free(raws: list[bytes]) -> None:
    ahead = ParseAhead(PARSE, processes=1)
    try:
        assert [take() for take in ahead.start(raws)] == [PARSE(raw) for raw in raws]  # the child is up, idle
        later = ahead.submit(_pid_of, [b"a", b"b"])
        time.sleep(0.5)  # long enough for the idle child to take it
        pids = later()
        assert len(set(pids)) == 1 and pids[0] != os.getpid()
    finally:
        ahead.close()


def _stuck_on_marker(raw: bytes) -> IncomingMessage:
    """A parser that never finishes one message (a pathological input)."""
    if b"STUCK" in raw:
        time.sleep(600)
    return PARSE(raw)


def test_a_parse_over_the_limit_fails_alone_and_the_stuck_child_is_killed(raws: list[bytes]) -> None:
    ahead = ParseAhead(_stuck_on_marker, processes=1, seconds=1.0)
    try:
        stuck = raws[0].replace(b"Subject:", b"X-Test: STUCK\r\nSubject:", 1)
        takes = ahead.start([stuck, raws[1]], retried=True)  # a retry: nothing taken back, all in the child
        started = time.monotonic()
        with pytest.raises(ParseTimeoutError):
            takes[0]()
        assert time.monotonic() - started < 3
        assert takes[1]() == PARSE(raws[1])  # its neighbour, lost with the killed pool, parsed again
        with pytest.raises(ParseTimeoutError):
            takes[0]()  # the same answer when the batch is stored again, without another wait
    finally:
        ahead.close()


def test_a_parse_here_over_the_limit_fails_once_done(raws: list[bytes]) -> None:
    ahead = ParseAhead(_slow_on_marker, processes=0, seconds=0.5)
    (take,) = ahead.start([raws[0].replace(b"Subject:", b"X-Test: SLOW-DOWN\r\nSubject:", 1)])
    with pytest.raises(ParseTimeoutError):
        take()
