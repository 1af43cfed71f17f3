"""The routing state in the database: agents marked away, and the round-robin turns.

Several workers may create tickets at once on PostgreSQL: the turns are read and written under
one transaction-scoped advisory lock, so two workers never give the same turn twice (the second
waits for the first to commit and reads its turn). SQLite has one writer at a time anyway.
"""

import zlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, text, update
from sqlmodel import Session, select

from tickets import threads
from tickets.agents.mail import AgentPolicy
from tickets.agents.routing import Route, route_new_ticket
from tickets.inserts import insert_ignore_statement
from tickets.models import AgentAway, RoutingTurn, Ticket
from tickets.threads import ThreadBuffer

ROTATION_LOCK = zlib.crc32(b"ventanilla:routing-turn") - 2**31  # a signed 32-bit advisory lock key


def away_until(session: Session, agents: Sequence[str] | None = None) -> dict[str, datetime]:
    """Agent -> the end of their absence (past ones included: the caller compares with now)."""
    query = select(AgentAway)
    if agents is not None:
        query = query.where(AgentAway.email.in_(list(agents)))  # type: ignore[attr-defined]
    return {row.email: row.until for row in session.exec(query)}


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
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROTATION_LOCK})


def turns_of(session: Session, group: str) -> dict[str, int]:
    rows = session.exec(select(RoutingTurn).where(RoutingTurn.group_name == group))
    return {row.agent: row.turn for row in rows}


def save_turn(session: Session, group: str, agent: str, turn: int) -> None:
    values = {"group_name": group, "agent": agent, "turn": turn}
    session.execute(insert_ignore_statement(RoutingTurn, session.get_bind().dialect.name), values)
    session.execute(
        update(RoutingTurn)
        .where(RoutingTurn.group_name == group, RoutingTurn.agent == agent)  # type: ignore[arg-type]
        .values(turn=turn)
    )


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
        session.execute(update(Ticket).where(Ticket.id == ticket.id).values(assigned_agent=route.assignee))  # type: ignore[arg-type]
        ticket.assigned_agent = route.assignee
    # "routed", not "assigned": no person acted (the monthly report counts assignments as actions).
    detail = f"assigned to {route.assignee} ({route.why})" if route.assignee else route.why
    threads.add_event(session, ticket.id, now, "routed", detail=detail, buffer=buffer)
    return route
