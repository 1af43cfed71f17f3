"""Named crash points, for fault tests: with VENTANILLA_CRASH_AT=<name> in its environment, the
process kills itself (SIGKILL, nothing cleaned up) when it reaches that point. Unset, a no-op.

Tests name a point instead of killing at a random moment, so each crash case is reproducible.
"""

import os
import signal

_CRASH_AT = os.environ.get("VENTANILLA_CRASH_AT", "")


def crash_point(name: str) -> None:
    """Die here when the environment names this point."""
    if _CRASH_AT and _CRASH_AT == name:
        os.kill(os.getpid(), signal.SIGKILL)
