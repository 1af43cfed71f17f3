"""Who holds a claim or a lease: this process, named so that its own host can tell when it died.

A holder is "host:pid:start", `start` being when the process started (Linux: field 22 of
/proc/PID/stat, in clock ticks since boot), so that a pid the system gave to a new process after
the holder died is not mistaken for the holder. Without /proc it is "host:pid", as it was before
start times were recorded; such holders are still understood.
"""

import os
import socket
from pathlib import Path


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a running process, from /proc; None where /proc does not tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name, in parentheses, may hold spaces
    return (fields[0], fields[19]) if len(fields) > 19 else None


def holder_of(pid: int) -> str:
    """ "host:pid:start" of a process of this host ("host:pid" where the start time is unknown)."""
    stat = _proc_stat(pid)
    return f"{socket.gethostname()}:{pid}:{stat[1]}" if stat else f"{socket.gethostname()}:{pid}"


def worker_id() -> str:
    """The holder name of this process (see `holder_of`)."""
    return holder_of(os.getpid())


def parse_holder(owner: str) -> tuple[str, int | None, str | None]:
    """(host, pid, start) of a holder; pid None when `owner` names no process."""
    head, _, last = owner.rpartition(":")
    host, _, middle = head.rpartition(":")
    if host and middle.isdigit() and last.isdigit():
        return host, int(middle), last
    return head, int(last) if last.isdigit() else None, None


def is_dead_here(owner: str) -> bool:
    """True when `owner` is a process on this host that no longer runs (a crash, a kill -9): no
    such pid, a zombie, or a pid now used by a process that started at another time."""
    host, pid, start = parse_holder(owner)
    if host != socket.gethostname() or pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # someone else's process: alive, unless /proc says it is another one
    stat = _proc_stat(pid)
    if stat is None:
        return False  # cannot tell: assume it runs (its lease still expires)
    state, started = stat
    return state == "Z" or (start is not None and started != start)
