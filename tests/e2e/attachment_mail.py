"""Mail with files for the attachment, erasure and purge tests; the CLI's config and small readers."""

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ventanilla, write_config

SUPPORT = "soporte@ventanilla.example"
AGENT = "ana@ventanilla.example"
PDF = b"%PDF-1.4\n% justificante de solicitud\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def config(tmp_path: Path, db_url: str, **agents: Any) -> Path:
    return write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir"), "parse_processes": 0},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
            "helpdesk": {"address": SUPPORT, "name": "Soporte", "agents": [AGENT]},
            "calendar": {"timezone": "Europe/Madrid"},
            **({"agents": agents} if agents else {}),
        },
    )


def mail_with(
    index: int,
    sender: str,
    files: list[tuple[str, str, bytes]],
    *,
    to: str = SUPPORT,
    cc: str = "",
    text: str = "Adjunto el justificante.",
    subject: str = "",
    in_reply_to: str = "",
) -> bytes:
    """A user's (or agent's) message with `files` as (name, content type, bytes)."""
    msg = EmailMessage()
    msg["From"] = f"Persona {index} <{sender}>"
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject or f"Certificado {index}: adjunto el documento"
    msg["Date"] = format_datetime(datetime.now(UTC) - timedelta(minutes=5))
    msg["Message-ID"] = f"<att{index}@{sender.split('@')[1]}>"
    if in_reply_to:
        msg["In-Reply-To"] = msg["References"] = in_reply_to
    msg.set_content(f"Hola,\n\n{text}\n\nUn saludo.\n")
    for name, ctype, data in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(msg)


def deliver(cfg: Path, cwd: Path, raw: bytes) -> str:
    done = ventanilla("--config", cfg, "deliver", cwd=cwd, stdin=raw)
    assert done.returncode == 0, done.stderr
    return done.stdout


def show(cfg: Path, cwd: Path, number: int) -> dict[str, Any]:
    shown = ventanilla("--config", cfg, "tickets", "show", str(number), "--json", cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)  # type: ignore[no-any-return]


def sent_mail(tmp_path: Path) -> list[EmailMessage]:
    """Every .eml the file transport wrote, parsed."""
    found = []
    for path in sorted((tmp_path / "sent").glob("*.eml")):
        found.append(message_from_bytes(path.read_bytes(), policy=policy.default))
    return found  # type: ignore[return-value]


def files_of(msg: EmailMessage) -> list[tuple[str, str, bytes]]:
    """(filename, content type, exact bytes) of every attachment of a parsed message."""
    return [
        (part.get_filename() or "", part.get_content_type(), part.get_payload(decode=True))
        for part in msg.iter_attachments()
    ]
