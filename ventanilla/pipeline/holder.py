"""Who holds a claim or a lease: this process, named so that its own host can tell when it died."""

import os
import socket


def worker_id() -> str:
    """"host:pid" of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_dead_here(owner: str) -> bool:
    """True when `owner` is a process on this host that no longer runs (a crash, a kill -9)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
