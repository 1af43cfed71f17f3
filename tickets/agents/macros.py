"""Canned replies: `#macro NAME` puts the text of a macro above the agent's own words.

The texts are templates the shell renders (mailer.macros, from `templates/macros/<lang>/`);
the core only sees this port, so the decision stays here and the files stay out of it.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tickets.errors import TicketsError
from tickets.mail_context import Person, TicketView, requester_of, ticket_view

if TYPE_CHECKING:
    from tickets.models import Ticket


class MacroError(TicketsError):
    """A macro could not be rendered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MacroValues:
    """What a macro's template may use: `ticket`, `requester` and `name` (the user's name)."""

    ticket: TicketView
    requester: Person
    name: str


class MacroBook(Protocol):
    def names(self, language: str) -> tuple[str, ...]:
        """The macros known in `language` (sorted)."""
        ...

    def render(self, name: str, language: str, values: MacroValues) -> str | None:
        """The macro's text; None when there is no such macro; MacroError when it fails."""
        ...


def values_of(ticket: "Ticket") -> MacroValues:
    return MacroValues(ticket=ticket_view(ticket), requester=requester_of(ticket), name=ticket.requester_name)


def expand(book: MacroBook | None, name: str, ticket: "Ticket", body: str) -> tuple[str, str]:
    """(the text with the macro on top, "") or ("", why it cannot be used)."""
    known = book.names(ticket.language) if book is not None else ()
    try:
        text = book.render(name, ticket.language, values_of(ticket)) if book is not None else None
    except MacroError as exc:
        return "", f"#macro {name}: {exc}"
    if text is None:
        listed = ", ".join(known) if known else "none"
        return "", f"#macro: unknown macro {name!r} (known: {listed})"
    return "\n\n".join(part for part in (text.strip("\n"), body.strip("\n")) if part.strip()), ""
