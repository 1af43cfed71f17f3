"""Holder names ("host:pid:start") and telling a dead holder of this host, on real processes."""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ventanilla.pipeline.holder import holder_of, is_dead_here, parse_holder, worker_id

HOST = socket.gethostname()
pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="start times come from /proc")


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_this_process_is_named_by_host_pid_and_start_time_and_is_alive() -> None:
    host, pid, start = parse_holder(worker_id())
    assert (host, pid) == (HOST, os.getpid()) and start is not None and start.isdigit()
    assert not is_dead_here(worker_id())


def test_a_killed_process_is_dead_once_reaped_and_while_a_zombie(child: subprocess.Popen[bytes]) -> None:
    holder = holder_of(child.pid)
    assert not is_dead_here(holder)
    child.kill()
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped yet: a zombie
    assert is_dead_here(holder)
    child.wait()
    assert is_dead_here(holder)


def test_a_pid_now_used_by_a_process_started_at_another_time_is_not_the_holder(
    child: subprocess.Popen[bytes],
) -> None:
    host, pid, start = parse_holder(holder_of(child.pid))
    assert start is not None
    assert is_dead_here(f"{host}:{pid}:{int(start) - 1}")


def test_holders_of_other_hosts_and_names_without_a_pid_are_never_judged_dead() -> None:
    assert not is_dead_here(f"another-{HOST}:999999999:1")
    assert not is_dead_here("")
    assert not is_dead_here(f"{HOST}:not-a-pid")


def test_a_holder_written_before_start_times_is_still_understood(child: subprocess.Popen[bytes]) -> None:
    assert parse_holder(f"{HOST}:{child.pid}") == (HOST, child.pid, None)
    assert not is_dead_here(f"{HOST}:{child.pid}")
    child.kill()
    child.wait()
    assert is_dead_here(f"{HOST}:{child.pid}")
