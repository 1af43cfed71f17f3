"""The seam every use case runs through: one unit of work, the outgoing mail it returned queued in
that same transaction, and the sender woken once it is committed (the shell's App implements it)."""

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlmodel import Session

from tickets.values import OutgoingEmail

R = TypeVar("R")
Work = Callable[[Session, datetime], R]


def outgoing_of(result: Any) -> Iterable[OutgoingEmail]:
    """The mail a use case's result asks to send: its `outgoing` (every result type has one)."""
    return result.outgoing  # type: ignore[no-any-return]


def as_mail(result: Iterable[OutgoingEmail]) -> Iterable[OutgoingEmail]:
    """For use cases that return the intents themselves."""
    return result


class UseCases(Protocol):
    """Runs `work(session, now)` in one unit of work; the intents `mail(result)` names are queued
    in it; commits; then wakes the sender. `now` defaults to the clock's; `name` names the work
    (for its crash points in fault tests)."""

    def run(
        self,
        work: Work[R],
        *,
        now: datetime | None = None,
        mail: Callable[[R], Iterable[OutgoingEmail]] = ...,
        name: str = "",
    ) -> R: ...
