"""FAQ suggestions for a new ticket's acknowledgement: which, and what is recorded of them. Pure."""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tickets.faq.match import Suggestion
from tickets.mail_context import AgentNotificationContext, FaqLink
from tickets.values import OutgoingEmail

REVOCATION = "revocation"  # the category whose acknowledgement puts the 24/7 line first, and no FAQ
EVENT = "faq-suggested"


class FaqMatcher(Protocol):
    """What suggests entries: a `tickets.faq.match.FaqIndex`, or the worker's FAQ that SIGHUP reads again."""

    def suggest(self, text: str, lang: str, limit: int = 3) -> Sequence[Suggestion]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class FaqPolicy:
    """The FAQ the worker loaded, and how many entries an acknowledgement may carry."""

    index: FaqMatcher
    max_suggestions: int = 3


def suggestions_for(
    policy: FaqPolicy | None, *, subject: str, text: str, language: str, category: str
) -> tuple[Suggestion, ...]:
    """The entries to suggest on a new ticket: none for a revocation, none when unsure."""
    if policy is None or policy.max_suggestions <= 0 or category == REVOCATION:
        return ()
    return tuple(policy.index.suggest(f"{subject}\n{text}", language, policy.max_suggestions))


def links(suggestions: Sequence[Suggestion]) -> tuple[FaqLink, ...]:
    return tuple(FaqLink(title=s.title, url=s.url) for s in suggestions)


def event_detail(suggestions: Sequence[Suggestion]) -> str:
    """What the ticket's event records: each entry id with its score, best first."""
    return ", ".join(f"{s.entry_id} {s.score:.2f}" for s in suggestions)


def with_suggested(outgoing: Sequence[OutgoingEmail], suggested: tuple[FaqLink, ...]) -> tuple[OutgoingEmail, ...]:
    """The agents' notifications of a new ticket, telling what the user was already sent."""
    if not suggested:
        return tuple(outgoing)
    return tuple(
        dataclasses.replace(mail, context=dataclasses.replace(mail.context, suggested=suggested))
        if isinstance(mail.context, AgentNotificationContext)
        else mail
        for mail in outgoing
    )
