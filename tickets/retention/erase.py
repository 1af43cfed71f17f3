"""The right to erasure: one person's raw mail, texts, attachments and address go; the rows the
monthly report counts stay (tickets with their status, category and times; messages as rows of
a kind and a time; events; calls with their outcome), under a stable pseudonym.

What goes, for the address A (any case):
- tickets A requested: subject and name emptied; every message on them emptied (subject, text,
  HTML, sender name) with its attachments; free-text event details emptied;
- A's own messages on other tickets (as a person in copy): emptied, attachments deleted;
- raw bytes: every receipt of A's tickets or from A, and any other receipt of a ticket A is on
  (or of no ticket) whose bytes name A; the same for outgoing mail (the outbox row's raw);
- outgoing mail to A or about A's tickets not sent yet is cancelled (status `suppressed`, reason
  "erased"): sending it would need the address;
- phone calls of A: number (wherever it was copied), name and summary emptied;
- A leaves every ticket's participants (nobody relays to them again);
- then every text column of every table: A replaced by the pseudonym.
"""

import hashlib
import hmac
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlmodel import Session

import tickets.instance  # noqa: F401  # every table is known to the scrub
import tickets.sla.models  # noqa: F401
from tickets import threads
from tickets.models import AttachmentRow, Blob, Event, Message, Outbox, Participant, Receipt, Ticket
from tickets.phone.models import Call
from tickets.retention.blobs import chunks, drop_attachments, empty_raws
from tickets.retention.scrub import count_address, replace_address

_T: Any = Ticket.__table__.c  # type: ignore[attr-defined]
_M: Any = Message.__table__.c  # type: ignore[attr-defined]
_R: Any = Receipt.__table__.c  # type: ignore[attr-defined]
_B: Any = Blob.__table__.c  # type: ignore[attr-defined]
_E: Any = Event.__table__.c  # type: ignore[attr-defined]
_O: Any = Outbox.__table__.c  # type: ignore[attr-defined]
_P: Any = Participant.__table__.c  # type: ignore[attr-defined]
_C: Any = Call.__table__.c  # type: ignore[attr-defined]
_A: Any = AttachmentRow.__table__.c  # type: ignore[attr-defined]
FREE_TEXT_EVENTS = ("escalated", "status", "command-rejected", "agent-unauthenticated", "note")


def pseudonym(address: str, key: bytes) -> str:
    """`erased-<12 hex>@invalid`: the same for the same address (and instance secret), never the address."""
    digest = hmac.new(key, address.strip().lower().encode(), hashlib.sha256).hexdigest()[:12]
    return f"erased-{digest}@invalid"


def _ids(session: Session, query: Any) -> list[Any]:
    return list(dict.fromkeys(session.connection().execute(query).scalars()))


def _mentions(session: Session, rows: Any, needle: bytes) -> list[int]:
    """The ids among (id, bytes) rows whose bytes hold `needle` (lower case), read in batches."""
    found = []
    for row_id, data in session.connection().execute(rows.execution_options(yield_per=200)):
        if data and needle in bytes(data).lower():
            found.append(row_id)
    return found


def erase(session: Session, address: str, *, key: bytes, now: datetime) -> dict[str, int]:
    """Erase `address` (see the module docstring); what was removed, per kind (all 0: unknown)."""
    who = address.strip().lower()
    needle = who.encode()
    conn = session.connection()
    theirs = _ids(session, select(_T.id).where(func.lower(_T.requester_email) == who))
    present = _ids(session, select(_P.ticket_id).where(func.lower(_P.email) == who))
    others = [t for t in present if t not in set(theirs)]
    counts: dict[str, int] = {"tickets": len(theirs), **_messages(session, theirs, who)}
    counts["raw messages"] = _receipts(session, theirs, others, who, needle)
    counts.update(_outbox(session, theirs, others, who, needle))
    phones = _phones(session, theirs, who)
    counts["calls"] = _calls(session, theirs, who)
    if theirs:
        conn.execute(update(Ticket.__table__).where(_T.id.in_(theirs)).values(subject="", requester_name=""))  # type: ignore[attr-defined]
        free = _E.ticket_id.in_(theirs) & _E.kind.in_(FREE_TEXT_EVENTS)
        conn.execute(update(Event.__table__).where(free).values(detail=""))  # type: ignore[attr-defined]
    # Never mailed again: they leave the threads they were on (their tickets keep the pseudonym).
    leave = delete(Participant.__table__).where(func.lower(_P.email) == who)  # type: ignore[attr-defined]
    counts["thread memberships"] = conn.execute(leave).rowcount
    counts["addresses replaced"] = sum(replace_address(session, who, pseudonym(who, key)).values())
    for phone in phones:  # their number, wherever a call's thread entry copied it
        replace_address(session, phone, "")
    if any(counts.values()):
        for ticket_id in theirs:
            threads.add_event(session, ticket_id, now, "erased", detail="personal data erased on request")
    return counts


def _messages(session: Session, theirs: list[int], who: str) -> dict[str, int]:
    """Everything on their tickets and what they wrote elsewhere: texts emptied, files deleted."""
    mine = or_(_M.ticket_id.in_(theirs), func.lower(_M.from_addr) == who)
    messages = _ids(session, select(_M.id).where(mine))
    rows, files = drop_attachments(session, messages)
    for chunk in chunks(messages):
        emptied = update(Message.__table__).where(_M.id.in_(chunk))  # type: ignore[attr-defined]
        session.connection().execute(emptied.values(subject="", text="", html="", from_name=""))
    return {"messages": len(messages), "attachments": rows, "attachment files": files}


def _receipts(session: Session, theirs: list[int], others: list[int], who: str, needle: bytes) -> int:
    """Raw mail of their tickets or from them, and any other naming them (tickets they are on,
    mail of no ticket): bytes emptied; how many receipts lost bytes."""
    receipts = _ids(session, select(_R.id).where(or_(_R.ticket_id.in_(theirs), func.lower(_R.sender) == who)))
    maybe = select(_R.id, _B.data).where(_R.raw_sha256 == _B.sha256, _B.size > 0, _R.id.not_in(receipts or [0]))
    maybe = maybe.where(or_(_R.ticket_id.in_(others or [0]), _R.ticket_id.is_(None)))
    receipts += _mentions(session, maybe, needle)
    removed = empty_raws(session, receipts)
    for chunk in chunks(receipts):
        emptied = update(Receipt.__table__).where(_R.id.in_(chunk))  # type: ignore[attr-defined]
        session.connection().execute(emptied.values(subject="", sender_name=""))
    return removed


def _outbox(session: Session, theirs: list[int], others: list[int], who: str, needle: bytes) -> dict[str, int]:
    """Outgoing mail of their tickets or to them: raw bytes emptied; not sent yet: cancelled."""
    conn = session.connection()
    to_them = or_(_O.ticket_id.in_(theirs or [0]), func.lower(_O.recipients).contains(who, autoescape=True))
    rows = _ids(session, select(_O.id).where(to_them))
    nearby = select(_O.id, _O.raw).where(_O.ticket_id.in_(others or [0]) | _O.ticket_id.is_(None), ~to_them)
    rows += _mentions(session, nearby, needle)
    cancelled = 0
    for chunk in chunks(rows):
        unsent = update(Outbox.__table__).where(_O.id.in_(chunk), _O.status == "queued")  # type: ignore[attr-defined]
        cancelled += conn.execute(unsent.values(status="suppressed", last_reply="erased on request")).rowcount
        conn.execute(update(Outbox.__table__).where(_O.id.in_(chunk)).values(raw=b""))  # type: ignore[attr-defined]
    return {"outgoing mails": len(rows), "outgoing mails cancelled": cancelled}


def _their_calls(theirs: list[int], who: str) -> Any:
    return or_(_C.ticket_id.in_(theirs or [0]), func.lower(_C.caller_email) == who)


def _phones(session: Session, theirs: list[int], who: str) -> list[str]:
    """Their phone numbers, as the call log has them (at least 6 characters: never a stray digit)."""
    numbers = session.connection().execute(select(_C.caller_phone).where(_their_calls(theirs, who))).scalars()
    return [n for n in dict.fromkeys(numbers) if len(n.strip()) >= 6]


def _calls(session: Session, theirs: list[int], who: str) -> int:
    """Phone calls of theirs: the outcome, line and times stay (the report counts them)."""
    calls = _their_calls(theirs, who)
    values = {"caller_phone": "", "caller_name": "", "summary": ""}
    return int(session.connection().execute(update(Call.__table__).where(calls).values(values)).rowcount)  # type: ignore[attr-defined]


def is_known(session: Session, address: str) -> bool:
    """Whether the address is anywhere in the database's text."""
    return count_address(session, address.strip().lower()) > 0
