"""Realistic support mail for tests and benchmarks: new questions and replies in their threads."""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

SUPPORT = "soporte@ventanilla.example"
TOPICS_ES = [
    ("No puedo descargar mi certificado", "Solicité el certificado y al descargarlo dice que el código no es válido."),
    ("Renovar certificado que caduca", "Mi certificado caduca pronto, ¿cómo lo renuevo por internet?"),
    ("Exportar certificado a otro equipo", "¿Cómo hago una copia de seguridad .pfx desde Firefox?"),
    ("Revocar certificado", "He perdido el ordenador y quiero revocar mi certificado."),
]
TOPICS_EN = [
    ("Cannot install my certificate", "The browser says the certificate request was not found."),
    ("Export certificate from Chrome", "How do I export my certificate with the private key?"),
]


def message(
    *,
    index: int,
    sender: str,
    subject: str,
    body: str,
    when: datetime,
    in_reply_to: str = "",
    extra: dict[str, str] | None = None,
) -> tuple[str, bytes]:
    """(Message-ID, raw bytes) of one user message."""
    msg = EmailMessage()
    msg_id = f"<m{index}@{sender.split('@')[1]}>"
    msg["From"] = f"Usuario {index} <{sender}>"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = msg_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content(f"Hola,\n\n{body}\n\nMensaje número {index}.\n\nGracias,\nUsuario {index}\n")
    return msg_id, bytes(msg)


def question(index: int, subject: str, body: str, *, minutes_ago: float = 5) -> tuple[str, bytes]:
    """(Message-ID, bytes) of user{index}@correo.example asking, sent a few minutes ago."""
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return message(index=index, sender=f"user{index}@correo.example", subject=subject, body=body, when=when)


def thread_plan(count: int, *, reply_every: int, rng: random.Random) -> Iterator[tuple[int, datetime, int | None]]:
    """(index, time, index of the thread's first message or None): every `reply_every`-th message
    replies in the thread of a random earlier one. Lazy, so the caller's draws from `rng` interleave."""
    start = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    root_of: list[int] = []
    for i in range(count):
        when = start + timedelta(seconds=37 * i)
        if i and i % reply_every == 0:
            root = root_of[rng.randrange(i)]
            root_of.append(root)
            yield i, when, root
        else:
            root_of.append(i)
            yield i, when, None


def backlog(count: int, *, reply_every: int = 5, seed: int = 7) -> list[dict]:
    """`count` messages; every `reply_every`-th one replies in the thread of an earlier one."""
    rng = random.Random(seed)
    out: list[dict] = []
    for i, when, root in thread_plan(count, reply_every=reply_every, rng=rng):
        if root is not None:
            parent = out[root]
            mid, raw = message(index=i, sender=parent["sender"], subject="Re: " + parent["subject"],
                               body="Os doy más datos.", when=when, in_reply_to=parent["message_id"])
            out.append({"message_id": mid, "raw": raw, "sender": parent["sender"], "subject": parent["subject"],
                        "parent": root, "when": when})
            continue
        subject, body = rng.choice(TOPICS_ES + TOPICS_EN)
        sender = f"user{i}@correo{i % 13}.example"
        mid, raw = message(index=i, sender=sender, subject=f"{subject} ({i})", body=body, when=when)
        out.append({"message_id": mid, "raw": raw, "sender": sender, "subject": f"{subject} ({i})",
                    "parent": None, "when": when})
    return out


def append_all(client, folder: str, mails: list[dict]) -> None:  # type: ignore[no-untyped-def]
    """APPEND with the message's time as INTERNALDATE, over one connection."""
    if not client.folder_exists(folder):
        client.create_folder(folder)
    for mail in mails:
        client.append(folder, mail["raw"], msg_time=mail["when"])
