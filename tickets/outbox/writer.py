"""The one way mail enters the outbox: rendered messages inserted together, each once per
idempotency key, and shown in their tickets' threads, in the caller's transaction."""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from tickets import threads
from tickets.inserts import insert_ignore_statement
from tickets.models import Outbox
from tickets.outbox.queries import new_row
from tickets.values import OutgoingEmail


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedMail:
    """An intent the shell has rendered and composed: what its outbox row and thread entry hold."""

    intent: OutgoingEmail
    message_id: str
    raw: bytes
    subject: str
    text: str
    sender: str
    now: datetime


def write_outbox(session: Session, mails: Sequence[RenderedMail]) -> dict[str, int]:
    """Add these messages to the outbox (one statement; an idempotency key already taken, or
    repeated among them, adds nothing) and show each added one in its ticket's thread (one more
    statement). The outbox row id of each message added, by idempotency key."""
    if not mails:
        return {}
    if session.new or session.dirty:
        session.flush()
    rows = [_row(mail) for mail in mails]
    result = session.connection().execute(_insert(session.get_bind().dialect.name), rows)
    added: dict[str, int] = {key: row_id for key, row_id in result.all()}
    shown: set[str] = set()
    entries = []
    for mail in mails:
        key = mail.intent.idempotency_key
        if key in added and key not in shown and mail.intent.ticket_id is not None:
            shown.add(key)
            entries.append(_thread_entry(mail))
    threads.add_messages(session, entries)
    return added


def _row(mail: RenderedMail) -> dict[str, Any]:
    intent = mail.intent
    return new_row(
        idempotency_key=intent.idempotency_key,
        ticket_id=intent.ticket_id,
        kind=intent.kind,
        message_id=mail.message_id,
        recipients=intent.to,
        raw=mail.raw,
        now=mail.now,
    )


def _thread_entry(mail: RenderedMail) -> dict[str, Any]:
    return {
        "ticket_id": mail.intent.ticket_id,
        "receipt_id": None,
        "direction": "out",
        "kind": mail.intent.kind,
        "from_addr": mail.sender,
        "from_name": "",
        "to_addrs": ", ".join(mail.intent.to),
        "cc_addrs": "",
        "subject": mail.subject,
        "message_id": mail.message_id,
        "text": mail.text,
        "html": "",
        "created_at": mail.now,
    }


@functools.cache
def _insert(dialect: str) -> Any:
    table = Outbox.__table__  # type: ignore[attr-defined]
    return insert_ignore_statement(Outbox, dialect).returning(table.c.idempotency_key, table.c.id)
