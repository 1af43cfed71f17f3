"""A mailbox's bookkeeping: the UIDVALIDITY it was read under, the high-water UID of its spooled
receipts, and the poller lease (one worker at a time reads a mailbox)."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session
from sqlmodel import select as sqlmodel_select

from tickets.inserts import insert_ignore
from tickets.models import MailboxState, Receipt

_R: Any = Receipt.__table__.c  # type: ignore[attr-defined]


def mailbox_uidvalidity(session: Session, name: str) -> int:
    state = session.get(MailboxState, name)
    return state.uidvalidity if state else 0


def save_uidvalidity(session: Session, name: str, uidvalidity: int) -> None:
    state = session.get(MailboxState, name) or MailboxState(name=name)
    state.uidvalidity = uidvalidity
    session.add(state)


def high_water_uid(session: Session, mailbox: str, uidvalidity: int) -> int:
    query = select(func.max(_R.uid)).where(_R.mailbox == mailbox, _R.uidvalidity == uidvalidity)
    return int(session.connection().execute(query).scalar() or 0)


def take_lease(
    session: Session,
    name: str,
    owner: str,
    now: datetime,
    until: datetime,
    is_dead: Callable[[str], bool] = lambda _owner: False,
) -> bool:
    """Hold (or renew) the poller lease of a mailbox; False while another live owner holds it.

    `is_dead(owner)` lets the caller vouch that an owner is gone (a dead process on this host),
    so a restart after a crash does not wait for the lease to expire.
    """
    insert_ignore(session, MailboxState, {"name": name, "uidvalidity": 0, "high_water_uid": 0, "lease_owner": ""})
    query = sqlmodel_select(MailboxState).where(MailboxState.name == name).with_for_update()
    state = session.scalars(query).one()
    held = state.lease_owner not in ("", owner) and state.lease_until is not None and state.lease_until > now
    if held and not is_dead(state.lease_owner):
        return False
    state.lease_owner = owner
    state.lease_until = until
    session.add(state)
    return True


def release_lease(session: Session, name: str, owner: str) -> None:
    state = session.get(MailboxState, name)
    if state is not None and state.lease_owner == owner:
        state.lease_owner = ""
        state.lease_until = None
        session.add(state)


def record_poll(session: Session, name: str, now: datetime) -> None:
    """The folder of `name` was read successfully at `now` (every worker's /healthz reads it).
    One UPDATE when the mailbox's row exists (the poller's lease made it)."""
    table: Any = MailboxState.__table__  # type: ignore[attr-defined]
    if session.new or session.dirty:
        session.flush()
    done = session.connection().execute(table.update().where(table.c.name == name).values(polled_at=now))
    if done.rowcount == 0:
        values = {"name": name, "uidvalidity": 0, "high_water_uid": 0, "lease_owner": "", "polled_at": now}
        insert_ignore(session, MailboxState, values)
