"""Pure decisions about inbound mail: threading, language, category, acknowledgements (SLA: tickets.sla.policy)."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from tickets.ingest.categories import CategoryRuleSpec as CategoryRuleSpec  # re-exported for callers
from tickets.ingest.categories import categorise as categorise
from tickets.values import IncomingMessage

TICKET_REF = re.compile(r"\[#(\d{1,12})\]")
NO_REPLY = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?|abuse|root)([+@.-]|$)")
OPEN_STATUSES = ("open", "escalated")
REOPENABLE = ("pending", "resolved")
LANGUAGES = ("es", "en")  # a ticket's (its mail's templates)

_ES = {
    "de",
    "la",
    "que",
    "el",
    "en",
    "los",
    "para",
    "por",
    "con",
    "una",
    "mi",
    "certificado",
    "hola",
    "gracias",
    "no",
    "puedo",
    "cómo",
    "como",
    "buenos",
    "días",
    "quiero",
    "saludos",
}
_EN = {
    "the",
    "and",
    "to",
    "my",
    "is",
    "for",
    "with",
    "certificate",
    "hello",
    "thanks",
    "can",
    "cannot",
    "how",
    "please",
    "i",
    "it",
    "not",
    "want",
    "regards",
    "dear",
    "of",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketFacts:
    """What threading needs to know about an existing ticket."""

    id: int
    status: str
    participants: frozenset[str]


class ThreadAction(StrEnum):
    """Where a message goes: a new ticket, the ticket it belongs to, or a new one linked to a closed one."""

    NEW = "new"
    JOIN = "join"
    NEW_LINKED = "new-linked"


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadDecision:
    action: "ThreadAction"
    ticket_id: int | None = None
    reason: str = ""
    refused: tuple[int, ...] = ()  # tickets the message referenced but its sender does not belong to


def subject_ticket_refs(subject: str) -> tuple[int, ...]:
    """Ticket numbers named as [#N] in a subject."""
    return tuple(int(m) for m in TICKET_REF.findall(subject))


def decide_thread(
    msg: IncomingMessage,
    *,
    by_headers: Sequence[TicketFacts],
    by_subject: Sequence[TicketFacts],
    by_token: Sequence[TicketFacts] = (),
) -> ThreadDecision:
    """Join a ticket only when the sender belongs to it or carries its token (invariant 4)."""
    sender = msg.sender.email
    for facts, how in _candidates(by_token, by_headers, by_subject):
        if how != "token" and sender not in facts.participants:
            continue
        if facts.status == "closed":
            return ThreadDecision(action=ThreadAction.NEW_LINKED, ticket_id=facts.id, reason=f"{how}; closed")
        return ThreadDecision(action=ThreadAction.JOIN, ticket_id=facts.id, reason=how)
    strangers = tuple(dict.fromkeys(f.id for f in [*by_headers, *by_subject]))
    reason = f"not a participant of #{strangers[0]}" if strangers else ""
    return ThreadDecision(action=ThreadAction.NEW, reason=reason, refused=strangers)


def _candidates(
    by_token: Sequence[TicketFacts], by_headers: Sequence[TicketFacts], by_subject: Sequence[TicketFacts]
) -> Iterable[tuple[TicketFacts, str]]:
    yield from ((f, "token") for f in by_token)
    yield from ((f, "headers") for f in by_headers)
    yield from ((f, "subject") for f in by_subject)


def detect_language(text: str, default: str) -> str:
    """'es' or 'en' by counting common words; the default when unsure."""
    words = re.findall(r"[a-záéíóúñü]+", text[:4000].lower())
    es = sum(1 for w in words if w in _ES)
    en = sum(1 for w in words if w in _EN)
    if es == en:
        return default
    return "es" if es > en else "en"


def mailbox_of(address: str) -> str:
    """The mailbox an address delivers to: lower case, without a `+sub-address`."""
    local, at, domain = address.strip().lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" if at and local else address.strip().lower()


def is_own_address(address: str, own_addresses: Iterable[str]) -> bool:
    """One of our addresses (helpdesk.address, helpdesk.own_addresses) in any case, or any
    `+sub-address` of one: never a recipient of ours, never a participant (RT $RTAddressRegexp)."""
    if not address.strip():
        return False
    return mailbox_of(address) in {mailbox_of(own) for own in own_addresses if own.strip()}


def not_own(addresses: Iterable[str], own_addresses: Iterable[str]) -> tuple[str, ...]:
    """The addresses that are not ours, in order, without repeats or blanks."""
    own = tuple(own_addresses)
    return tuple(a for a in dict.fromkeys(addresses) if a and not is_own_address(a, own))


def is_no_reply_address(address: str) -> bool:
    return not address or bool(NO_REPLY.match(address.split("@", 1)[0]))


def ack_refusal(
    msg: IncomingMessage, *, own_addresses: frozenset[str], acks_last_hour: int, limit: int, answers_robot: str = ""
) -> str:
    """Why no acknowledgement may be sent ('' when one may), per RFC 3834 and our rate limit.

    `answers_robot` is the kind of our automatic message (ack, notification...) that the message's
    In-Reply-To/References name: a reply to a robot is never acknowledged (a peer helpdesk that
    answers from a new address each time would otherwise get an ack every time).
    """
    sender = msg.sender.email
    if msg.auto:
        return f"no ack: {msg.auto}"
    if msg.no_ack:
        return f"no ack: {msg.no_ack}"
    if answers_robot:
        return f"no ack: a reply to our automatic message ({answers_robot})"
    if is_own_address(sender, own_addresses):
        return "no ack: sender is our own address"
    if is_no_reply_address(sender):
        return "no ack: no-reply or system sender"
    if acks_last_hour >= limit:
        return f"no ack: rate limit ({limit} per sender per hour)"
    return ""


def escalates_again(current: str, wanted: str, reason: str) -> bool:
    """An agent's explicit escalation (it carries a reason) of a ticket that is already escalated:
    recorded and told to the supervisors again, never a silent no-op."""
    return current == wanted == "escalated" and bool(reason.strip())


def reopens(status: str) -> bool:
    """A user's message on a ticket in this status starts a new response cycle."""
    return status in REOPENABLE
