"""Who hears of a ticket, who gets it, and when an agent's reply collides with another's. Pure.

Groups route by category: a new ticket's notification goes to the members of its category's
group (every agent when no group has the category). With round-robin, the new ticket is given
to one member — the one whose last turn is the oldest, skipping those marked away — and only
that agent is told. The store (tickets.agents.rotation) reads the away list and the turns and
writes the turn back; everything here is a function of its arguments.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    name: str
    members: tuple[str, ...]
    categories: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Routing:
    """`[agents] groups`, `assign` and `collision_minutes`."""

    groups: tuple[Group, ...] = ()
    round_robin: bool = False
    collision_minutes: float = 10.0

    def group_named(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    def group_for(self, category: str) -> Group | None:
        return next((g for g in self.groups if category in g.categories), None)

    def group_of(self, *, category: str, assigned_group: str = "") -> Group | None:
        """The group `#assign` gave the ticket to, else its category's group."""
        return (self.group_named(assigned_group) if assigned_group else None) or self.group_for(category)


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Who a new ticket's notification goes to, and (round-robin) who it is assigned to."""

    recipients: tuple[str, ...]
    group: str = ""
    assignee: str = ""
    turn: int = 0  # the assignee's new turn (round-robin), to be stored
    why: str = ""


def is_away(agent: str, away: Mapping[str, datetime], now: datetime) -> bool:
    until = away.get(agent)
    return until is not None and until > now


def present(members: Sequence[str], away: Mapping[str, datetime], now: datetime) -> tuple[str, ...]:
    """The members not away now; all of them when everyone is away (someone must hear of it)."""
    here = tuple(m for m in members if not is_away(m, away, now))
    return here or tuple(members)


def route_new_ticket(
    *,
    category: str,
    routing: Routing,
    agents: Sequence[str],
    away: Mapping[str, datetime],
    turns: Mapping[str, int],
    now: datetime,
) -> Route:
    """The notification's recipients for a new ticket of `category`, and its assignee if any."""
    group = routing.group_for(category)
    if group is None:
        return Route(recipients=tuple(agents), why="no group for the category: every agent")
    if not routing.round_robin:
        return Route(recipients=present(group.members, away, now), group=group.name, why=f"group {group.name}")
    here = [m for m in group.members if not is_away(m, away, now)]
    if not here:
        why = f"group {group.name}: every member is away, nobody assigned"
        return Route(recipients=group.members, group=group.name, why=why)
    order = {m: i for i, m in enumerate(group.members)}
    pick = min(here, key=lambda m: (turns.get(m, 0), order[m]))
    turn = max((turns.get(m, 0) for m in group.members), default=0) + 1
    why = f"round-robin in group {group.name}"
    return Route(recipients=(pick,), group=group.name, assignee=pick, turn=turn, why=why)


def recipients_of(
    *,
    category: str,
    assigned_agent: str,
    assigned_group: str,
    routing: Routing,
    agents: Sequence[str],
    away: Mapping[str, datetime],
    now: datetime,
) -> tuple[str, ...]:
    """Who hears of a user's message on an existing ticket: its agent, else its group, else everyone."""
    if assigned_agent and assigned_agent in agents:
        return (assigned_agent,)
    group = routing.group_of(category=category, assigned_group=assigned_group)
    return present(group.members, away, now) if group is not None else tuple(agents)


def told_on_escalation(
    *, category: str, assigned_group: str, routing: Routing, actor: str, supervisors: Sequence[str]
) -> tuple[str, ...]:
    """Round-robin: the ticket's group hears of an escalation (besides the supervisors)."""
    if not routing.round_robin:
        return ()
    group = routing.group_of(category=category, assigned_group=assigned_group)
    if group is None:
        return ()
    return tuple(m for m in group.members if m != actor and m not in supervisors)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReply:
    """An agent's reply already relayed to the user: who, and when it arrived."""

    agent: str
    at: datetime
    text: str = ""


def colliding_reply(
    *,
    agent: str,
    at: datetime,
    seen_at: datetime | None,
    replies: Sequence[AgentReply],
    minutes: float,
) -> AgentReply | None:
    """The other agent's reply that `agent`'s reply arriving `at` would collide with, if any.

    It collides when another agent's reply reached the user within `minutes` before it and
    after the newest mail of ours `agent` was answering (`seen_at`; None = unknown: not seen).
    """
    if minutes <= 0:
        return None
    window = timedelta(minutes=minutes)
    found = [
        r
        for r in replies
        if r.agent != agent and r.at <= at and at - r.at <= window and (seen_at is None or r.at > seen_at)
    ]
    return max(found, key=lambda r: r.at) if found else None
