"""Free space where Ventanilla writes (A12): the spool of a SQLite database, a Maildir inbox, a
file outbox. A full disk stops intake cleanly (nothing is lost), but an operator should hear of
it before: `ventanilla check` fails when any of them has room for fewer than SPARE_MESSAGES
messages of the largest size accepted."""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from config.settings import Settings

SPARE_MESSAGES = 10


@dataclass(frozen=True, slots=True)
class Room:
    mount: str  # the first path seen on that filesystem
    what: tuple[str, ...]  # the paths on it
    free: int  # bytes


def _written_paths(settings: Settings) -> list[tuple[str, Path]]:
    paths: list[tuple[str, Path]] = []
    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        paths.append(("database", Path(url.database)))
    if settings.inbox.kind == "maildir":
        paths.append(("inbox", Path(settings.inbox.path)))
    if settings.outbound.kind == "file":
        paths.append(("outbox", Path(settings.outbound.path)))
    return paths


def _existing(path: Path) -> Path:
    """The path, or its nearest existing parent (what would hold it once created)."""
    for candidate in (path, *path.absolute().parents):
        if candidate.exists():
            return candidate
    return Path(os.sep)


def rooms(settings: Settings) -> list[Room]:
    """Free space of each filesystem Ventanilla writes to here (none for PostgreSQL alone)."""
    by_device: dict[int, Room] = {}
    for what, path in _written_paths(settings):
        place = _existing(path)
        device = place.stat().st_dev
        room = by_device.get(device)
        if room is None:
            by_device[device] = Room(str(place), (what,), shutil.disk_usage(place).free)
        else:
            by_device[device] = Room(room.mount, (*room.what, what), room.free)
    return list(by_device.values())


def human(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def check(settings: Settings) -> str:
    """One line on the free space; raises OSError (for the check's "fail") when it is short."""
    need = SPARE_MESSAGES * settings.limits.max_message_bytes
    found = rooms(settings)
    short = [r for r in found if r.free < need]
    line = "; ".join(f"{human(r.free)} free for {', '.join(r.what)} ({r.mount})" for r in found)
    if short:
        raise OSError(f"{line}: under {human(need)} ({SPARE_MESSAGES} messages of limits.max_message_bytes)")
    return line or "nothing written to local disk (PostgreSQL, IMAP, SMTP)"
