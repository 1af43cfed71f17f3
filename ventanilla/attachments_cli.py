"""`ventanilla tickets attachment N ID --out FILE`, and the attachments `tickets show` lists.

The file is written where the operator says, never where the sender's file name would put it:
the name is display data only.
"""

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlmodel import Session

from tickets import attachments
from tickets.db import read_only
from tickets.models import Ticket
from ventanilla.context import AppContext

errors = Console(stderr=True, soft_wrap=True)


def attachments_json(session: Session, message_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """`{message id: [{id, filename, content_type, size, sha256}]}` for `tickets show`."""
    found = attachments.of_messages(session, message_ids)
    return {message_id: [a.as_json() for a in files] for message_id, files in found.items()}


def attachment_lines(files: list[dict[str, Any]]) -> list[str]:
    """One line per file, as `tickets show` prints them under a message."""
    return [
        f"[attachment {f['id']}] {f['filename']} ({attachments.human_size(f['size'])}, {f['content_type']})"
        for f in files
    ]


def _fail(message: str, code: int) -> typer.Exit:
    errors.print(message, markup=False, highlight=False)
    return typer.Exit(code)


def save_attachment(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(metavar="N", help="the ticket")],
    attachment_id: Annotated[int, typer.Argument(metavar="ID", help="the attachment (see `tickets show N`)")],
    out: Annotated[Path, typer.Option("--out", help="the file to write (`-` = standard output)")],
    force: Annotated[bool, typer.Option("--force", help="overwrite --out if it exists")] = False,
) -> None:
    """Write one attachment of a ticket, byte for byte, to --out."""
    app_ctx: AppContext = ctx.obj
    with read_only(app_ctx.engine) as session:
        if session.get(Ticket, number) is None:
            raise _fail(f"no ticket #{number}", 2)
        found = attachments.of_ticket(session, number, attachment_id)
        if found is None:
            raise _fail(f"attachment {attachment_id} is not one of ticket #{number} (see tickets show {number})", 2)
        data = attachments.content_of(session, found)
    if data is None:
        raise _fail(f"attachment {attachment_id} of ticket #{number}: its bytes were removed (purge or erasure)", 1)
    if str(out) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    _write(out, data, force=force)
    errors.print(f"{out}: {len(data):,} bytes ({found.filename}, sha256 {found.sha256[:12]}…)", markup=False)


def _write(out: Path, data: bytes, *, force: bool) -> None:
    """Exclusive create unless --force (no race between a check and the write)."""
    if out.is_dir():
        raise _fail(f"--out {out} is a directory; name the file to write", 2)
    if not out.parent.is_dir():
        raise _fail(f"--out {out}: no directory {out.parent}", 2)
    try:
        with out.open("wb" if force else "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except FileExistsError:
        raise _fail(f"--out {out} exists; not overwritten (add --force to replace it)", 1) from None
    except OSError as exc:
        raise _fail(f"--out {out}: {exc.strerror or exc}", 1) from None


def register(tickets_app: typer.Typer) -> None:
    tickets_app.command("attachment")(save_attachment)
