"""Phone calls: record one, tie it to a ticket, and say what mail it causes.

An attended call with a caller address becomes a written follow-up (`phone_followup`) and
counts as an answer: the response clock stops at the call's start. A lost or abandoned call
with an address gets a ticket and a "we missed your call" mail (`missed_call`), so nobody is
forgotten; like an email, it reopens a pending or resolved ticket (a new response cycle from the
call). Use cases take (session, ..., now, policy) and return intents; the caller's unit
of work commits and the shell renders and queues the intents in the same transaction.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from tickets import threads
from tickets.agents.mail import user_thread
from tickets.ingest import rules
from tickets.ingest.service import IngestPolicy
from tickets.inserts import insert_row
from tickets.mail_context import CallView, MissedCallContext, PhoneFollowupContext, requester_of, ticket_view
from tickets.models import Ticket
from tickets.phone.models import Call
from tickets.sla.policy import start_cycle
from tickets.values import OutgoingEmail

logger = logging.getLogger(__name__)

OUTCOMES = ("answered", "lost", "abandoned")
LINES = ("general", "revocation")
WAITING_STATUSES = ("open", "escalated", "pending")  # a caller's ticket that is still alive
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_SUBJECT = {"es": "Llamada telefónica", "en": "Phone call"}


class CallError(ValueError):
    """A call cannot be recorded as given (bad field, unknown ticket)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PhonePolicy:
    """What call handling depends on: ticket rules, the service's zone, missed-call mail."""

    ingest: IngestPolicy
    timezone: str = "Europe/Madrid"
    missed_call_email: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One call as logged by an agent or the call-centre export."""

    started_at: datetime
    line: str = "general"
    outcome: str = "answered"
    wait_seconds: int = 0
    duration_seconds: int = 0
    caller_phone: str = ""
    caller_email: str = ""
    caller_name: str = ""
    agent: str = ""
    summary: str = ""
    ticket_id: int | None = None  # the agent named the ticket


@dataclass(frozen=True, slots=True, kw_only=True)
class CallResult:
    """What recording a call did: `recorded`, or `duplicate` (already in the log)."""

    action: str
    call_id: int
    ticket_id: int | None = None
    outgoing: tuple[OutgoingEmail, ...] = ()


def validate(call: CallRecord) -> CallRecord:
    """The call, checked and normalised; a CallError names the first bad field."""
    if call.started_at.tzinfo is None:
        raise CallError("started_at: needs a time zone (e.g. 2013-10-01T09:30:00+02:00)")
    if call.outcome not in OUTCOMES:
        raise CallError(f"outcome: {call.outcome!r} is not one of {', '.join(OUTCOMES)}")
    if call.line not in LINES:
        raise CallError(f"line: {call.line!r} is not one of {', '.join(LINES)}")
    for name in ("wait_seconds", "duration_seconds"):
        if getattr(call, name) < 0:
            raise CallError(f"{name}: must not be negative")
    email = call.caller_email.strip().lower()
    if email and not _EMAIL.match(email):
        raise CallError(f"caller_email: {call.caller_email!r} is not an address")
    fields = {name: getattr(call, name) for name in call.__dataclass_fields__}
    return CallRecord(
        **{
            **fields,
            "caller_email": email,
            "caller_phone": " ".join(call.caller_phone.split())[:40],
            "agent": call.agent.strip()[:320],
            "started_at": _utc(call.started_at),
        }
    )


def _utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:
        raise CallError(f"started_at: {moment.isoformat()} is out of range") from None


def record_call(session: Session, call: CallRecord, *, now: datetime, policy: PhonePolicy) -> CallResult:
    """Log the call once (natural key), attach it to a ticket and return the mail it causes."""
    call = validate(call)
    if rules.is_own_address(call.caller_email, policy.ingest.own_addresses | {policy.ingest.helpdesk_address}):
        raise CallError(f"caller_email: {call.caller_email} is one of our own addresses")
    existing = _existing_call(session, call)
    if existing is not None:
        return CallResult(action="duplicate", call_id=existing[0], ticket_id=existing[1])
    ticket = _ticket_for(session, call, now, policy)
    call_id = insert_row(session, Call, _call_row(call, ticket, now))
    if ticket is None:
        return CallResult(action="recorded", call_id=call_id)
    if call.outcome == "answered":
        outgoing = _attended(session, ticket, call, call_id, now, policy)
    else:
        outgoing = _missed(session, ticket, call, call_id, now, policy)
    if outgoing:
        row = session.get(Call, call_id)
        assert row is not None
        row.followup = outgoing[0].kind
        session.add(row)
    return CallResult(action="recorded", call_id=call_id, ticket_id=ticket.id, outgoing=outgoing)


def _existing_call(session: Session, call: CallRecord) -> tuple[int, int | None] | None:
    query = select(Call.id, Call.ticket_id).where(
        Call.line == call.line,
        Call.started_at == call.started_at,
        Call.caller_phone == call.caller_phone,
        Call.caller_email == call.caller_email,
        Call.outcome == call.outcome,
    )
    row = session.execute(query).first()
    return None if row is None else (int(row[0]), row[1])


def _call_row(call: CallRecord, ticket: Ticket | None, now: datetime) -> dict[str, object]:
    return {
        "started_at": call.started_at,
        "line": call.line,
        "outcome": call.outcome,
        "wait_seconds": call.wait_seconds,
        "duration_seconds": call.duration_seconds,
        "caller_phone": call.caller_phone,
        "caller_email": call.caller_email,
        "caller_name": call.caller_name[:500],
        "agent": call.agent,
        "summary": call.summary,
        "ticket_id": ticket.id if ticket else None,
        "followup": "",
        "recorded_at": now,
    }


def _ticket_for(session: Session, call: CallRecord, now: datetime, policy: PhonePolicy) -> Ticket | None:
    """The named ticket, else the caller's live ticket, else a new one (None: nobody to write to)."""
    if call.ticket_id is not None:
        ticket = session.get(Ticket, call.ticket_id)
        if ticket is None:
            raise CallError(f"no ticket #{call.ticket_id}")
        return ticket
    if not call.caller_email:
        return None
    if call.outcome != "answered" and not policy.missed_call_email:
        return None
    query = (
        select(Ticket)
        .where(Ticket.requester_email == call.caller_email, Ticket.status.in_(WAITING_STATUSES))  # type: ignore[attr-defined]
        .order_by(Ticket.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )
    return session.scalars(query).first() or _new_ticket(session, call, now, policy)


def _new_ticket(session: Session, call: CallRecord, now: datetime, policy: PhonePolicy) -> Ticket:
    """A ticket whose response clock starts with the call (a missed call waits for us)."""
    rules_ = policy.ingest
    language = rules.detect_language(call.summary, rules_.default_language) if call.summary else rules_.default_language
    # The summary is the agent's one line about the call: weighed as a subject.
    category, priority = rules.categorise("", rules_.categories, subject=call.summary, language=language)
    if call.line == "revocation" and category == "general":
        category, priority = "revocation", "urgent"
    cycle = rules_.sla.cycle(priority, number=1, start=call.started_at)
    ticket_id = threads.insert_ticket(
        session,
        {
            "status": "open",
            "priority": priority,
            "category": category,
            "language": language,
            "requester_email": call.caller_email,
            "requester_name": call.caller_name[:500],
            "subject": _SUBJECT.get(language, _SUBJECT["en"]),
            "assigned_agent": "",
            "created_at": call.started_at,
            "updated_at": now,
            **cycle.columns(),
            "linked_ticket_id": None,
            "requester_undeliverable": False,
        },
    )
    threads.add_participant(session, ticket_id, call.caller_email, "requester")
    detail = f"from a phone call ({call.outcome})"
    threads.add_event(session, ticket_id, now, "created", actor=call.agent, detail=detail)
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket


def _attended(
    session: Session, ticket: Ticket, call: CallRecord, call_id: int, now: datetime, policy: PhonePolicy
) -> tuple[OutgoingEmail, ...]:
    """The call is shown on the ticket, stops the response clock, and is followed up in writing."""
    assert ticket.id is not None
    _store(session, ticket.id, kind="phone", call=call)
    threads.add_event(session, ticket.id, now, "phone-call", actor=call.agent, detail=f"call {call_id} on {call.line}")
    if ticket.first_answered_at is None or ticket.first_answered_at < ticket.cycle_started_at:
        hours = max(0.0, (call.started_at - ticket.cycle_started_at).total_seconds() / 3600)
        ticket.first_answered_at = call.started_at
        detail = f"cycle {ticket.cycle}: {hours:.2f} h (phone)"
        threads.add_event(session, ticket.id, now, "answered", actor=call.agent, detail=detail)
    if ticket.status in ("open", "escalated"):
        threads.add_event(session, ticket.id, now, "status", actor=call.agent, detail=f"{ticket.status} -> pending")
        ticket.status = "pending"
    ticket.updated_at = now
    session.add(ticket)
    if ticket.requester_undeliverable or not ticket.requester_email:
        return ()
    return (_intent("phone_followup", session, ticket, call, call_id, policy),)


def _missed(
    session: Session, ticket: Ticket, call: CallRecord, call_id: int, now: datetime, policy: PhonePolicy
) -> tuple[OutgoingEmail, ...]:
    """A missed call is shown on the ticket; the caller is told we will answer in writing. Like their
    email, it reopens a pending or resolved ticket: a new response cycle from the call."""
    assert ticket.id is not None
    _store(session, ticket.id, kind="missed_call", call=call)
    threads.add_event(session, ticket.id, now, "missed-call", detail=f"call {call_id} {call.outcome} on {call.line}")
    if rules.reopens(ticket.status):
        ticket.status, ticket.updated_at = "open", now
        start_cycle(ticket, at=call.started_at, sla=policy.ingest.sla)
        threads.add_event(session, ticket.id, now, "reopened", actor=call.caller_email, detail=f"cycle {ticket.cycle}")
        session.add(ticket)
    if not policy.missed_call_email or ticket.requester_undeliverable:
        return ()
    return (_intent("missed_call", session, ticket, call, call_id, policy),)


def _store(session: Session, ticket_id: int, *, kind: str, call: CallRecord) -> None:
    threads.add_message(
        session,
        {
            "ticket_id": ticket_id,
            "receipt_id": None,
            "direction": "in",
            "kind": kind,
            "from_addr": call.agent if kind == "phone" else call.caller_email,
            "from_name": call.caller_name[:500],
            "to_addrs": call.caller_phone,
            "cc_addrs": "",
            "subject": f"{call.line} {call.outcome} ({call.duration_seconds} s)",
            "message_id": "",
            "text": call.summary,
            "html": "",
            "created_at": call.started_at,
        },
    )


def _intent(
    kind: str, session: Session, ticket: Ticket, call: CallRecord, call_id: int, policy: PhonePolicy
) -> OutgoingEmail:
    assert ticket.id is not None
    parent, refs = user_thread(session, ticket.id)
    local = call.started_at.astimezone(ZoneInfo(policy.timezone))
    view = CallView(at=local, agent=call.agent, summary=call.summary, line=call.line)
    context_type = PhoneFollowupContext if kind == "phone_followup" else MissedCallContext
    return OutgoingEmail(
        kind=kind,
        ticket_id=ticket.id,
        to=(ticket.requester_email,),
        idempotency_key=f"{kind}:{call_id}",
        language=ticket.language,
        auto_submitted="auto-generated" if kind == "missed_call" else "",
        in_reply_to=parent,
        references=refs,
        context=context_type(ticket=ticket_view(ticket), requester=requester_of(ticket), call=view),
    )
