"""The routing state in the database: agents marked away, and the round-robin turns.

Several workers may create tickets at once on PostgreSQL: the turns are read and written under
one transaction-scoped advisory lock, so two workers never give the same turn twice (the second
waits for the first to commit and reads its turn). SQLite has one writer at a time anyway.
"""

import functools
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from tickets import threads
from tickets.agents.mail import AgentPolicy
from tickets.agents.routing import Route, route_new_ticket
from tickets.clock import as_utc
from tickets.models import AgentAway, RoutingTurn, Ticket
from tickets.threads import ThreadBuffer

_LOCKED = "routing_turns_locked"  # session.info: the transaction that holds the lock
ROTATION_LOCK = zlib.crc32(b"ventanilla:routing-turn") - 2**31  # a signed 32-bit advisory lock key


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """The statements of the hot path (every new ticket of a group), built once per dialect."""
    away, turn, ticket = AgentAway.__table__.c, RoutingTurn.__table__.c, Ticket.__table__.c  # type: ignore[attr-defined]
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = maker(RoutingTurn.__table__)  # type: ignore[attr-defined]
    return {
        "away": select(away.email, away.until).where(away.email.in_(bindparam("agents", expanding=True))),
        "all_away": select(away.email, away.until),
        "turns": select(turn.agent, turn.turn).where(turn.group_name == bindparam("group")),
        "save_turn": upsert.on_conflict_do_update(
            index_elements=["group_name", "agent"], set_={"turn": upsert.excluded.turn}
        ),
        "assign": update(Ticket.__table__).where(ticket.id == bindparam("ticket")).values(  # type: ignore[attr-defined]
            assigned_agent=bindparam("agent")
        ),
    }


def _run(session: Session, name: str, params: dict[str, Any] | None = None) -> Any:
    if session.new or session.dirty:
        session.flush()
    return session.connection().execute(_statements(session.get_bind().dialect.name)[name], params or {})


def away_until(session: Session, agents: Sequence[str] | None = None) -> dict[str, datetime]:
    """Agent -> the end of their absence (past ones included: the caller compares with now)."""
    rows = _run(session, "all_away") if agents is None else _run(session, "away", {"agents": list(agents)})
    return {email: as_utc(until) for email, until in rows}


def mark_away(session: Session, agent: str, *, until: datetime, now: datetime) -> None:
    """`agent` is away until `until` (replaces an earlier mark)."""
    session.execute(delete(AgentAway).where(AgentAway.email == agent))  # type: ignore[arg-type]
    session.add(AgentAway(email=agent, until=until, set_at=now))
    session.flush()


def mark_back(session: Session, agent: str) -> bool:
    """`agent` is back; False when they were not marked away."""
    result = session.execute(delete(AgentAway).where(AgentAway.email == agent))  # type: ignore[arg-type]
    return bool(getattr(result, "rowcount", 0))


def _lock_turns(session: Session) -> None:
    """Once per transaction (a batch of new tickets): held until it commits or rolls back."""
    transaction = session.get_transaction()
    if session.get_bind().dialect.name != "postgresql" or (transaction and session.info.get(_LOCKED) is transaction):
        return
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROTATION_LOCK})
    session.info[_LOCKED] = session.get_transaction()


def turns_of(session: Session, group: str) -> dict[str, int]:
    return {agent: int(turn) for agent, turn in _run(session, "turns", {"group": group})}


def save_turn(session: Session, group: str, agent: str, turn: int) -> None:
    """INSERT ... ON CONFLICT DO UPDATE: one statement on SQLite and PostgreSQL alike."""
    _run(session, "save_turn", {"group_name": group, "agent": agent, "turn": turn})


def route_new(
    session: Session, ticket: Ticket, now: datetime, policy: AgentPolicy, *, buffer: ThreadBuffer | None = None
) -> Route:
    """Decide a new ticket's recipients; with round-robin, assign it and store the turn."""
    assert ticket.id is not None
    routing = policy.routing
    group = routing.group_for(ticket.category)
    away: dict[str, datetime] = {}
    turns: dict[str, int] = {}
    if group is not None:
        away = away_until(session, group.members)
    if group is not None and routing.round_robin:
        _lock_turns(session)
        turns = turns_of(session, group.name)
    route = route_new_ticket(
        category=ticket.category, routing=routing, agents=policy.agents, away=away, turns=turns, now=now
    )
    if group is None:
        return route
    if route.assignee:
        save_turn(session, group.name, route.assignee, route.turn)
        _run(session, "assign", {"ticket": ticket.id, "agent": route.assignee})
        ticket.assigned_agent = route.assignee
    # "routed", not "assigned": no person acted (the monthly report counts assignments as actions).
    detail = f"assigned to {route.assignee} ({route.why})" if route.assignee else route.why
    threads.add_event(session, ticket.id, now, "routed", detail=detail, buffer=buffer)
    return route
