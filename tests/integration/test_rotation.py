"""Round-robin state on a real database: turns persist, and two workers never give the same turn.

The concurrency test holds one worker's transaction open after it picked an agent; on PostgreSQL
the second worker must wait for it and then pick the next agent (without the lock both would
read the same turns and pick the same one). SQLite serialises writers by itself.
"""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from config.agents import AgentGroup, AgentSettings
from config.settings import HelpdeskSettings
from config.sla import SlaSettings
from tickets.agents import rotation
from tickets.agents.mail import AgentPolicy, agent_policy
from tickets.db import read_only, unit_of_work
from tickets.models import Ticket
from tickets.repository import ticket_events
from tickets.sla.policy import SlaPolicy
from ventanilla.agents_cli import app as agents_app
from ventanilla.context import AppContext

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
ANA, LUIS, PACO = "ana@x.example", "luis@x.example", "paco@x.example"
HELPDESK = HelpdeskSettings(address="soporte@x.example", agents=[ANA, LUIS, PACO], secret="rotation-secret-0123456789")
GROUP = AgentGroup(name="certificados", members=[ANA, LUIS, PACO], categories=["renewal"])
POLICY = agent_policy(
    HELPDESK, AgentSettings(groups=[GROUP], assign="round-robin"), sla=SlaPolicy.from_settings(SlaSettings())
)


def _tickets(engine: Engine, count: int) -> list[int]:
    with unit_of_work(engine) as session:
        times = {"created_at": T0, "updated_at": T0, "cycle_started_at": T0}
        rows = [Ticket(requester_email="maria@example.org", category="renewal", **times) for _ in range(count)]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows if r.id is not None]


def _route(engine: Engine, ticket_id: int, policy: AgentPolicy = POLICY, now: datetime = T0) -> str:
    with unit_of_work(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        return rotation.route_new(session, ticket, now, policy).assignee


def test_turns_persist_across_transactions_and_skip_the_away(engine: Engine) -> None:
    ids = _tickets(engine, 5)
    assert [_route(engine, i) for i in ids[:2]] == [ANA, LUIS]
    with unit_of_work(engine) as session:
        rotation.mark_away(session, PACO, until=T0 + timedelta(days=1), now=T0)
    assert _route(engine, ids[2]) == ANA
    with unit_of_work(engine) as session:
        assert rotation.mark_back(session, PACO) and not rotation.mark_back(session, PACO)
    assert [_route(engine, i) for i in ids[3:]] == [PACO, LUIS]
    with read_only(engine) as session:
        assert session.get(Ticket, ids[4]).assigned_agent == LUIS  # type: ignore[union-attr]
        (event,) = ticket_events(session, ids[4])
        detail = "assigned to luis@x.example (round-robin in group certificados)"
        assert (event.kind, event.detail) == ("routed", detail)  # automatic: no action in the report


def test_two_workers_at_once_give_two_different_agents(engine: Engine) -> None:
    first, second = _tickets(engine, 2)
    picked: dict[str, str] = {}
    holding, release = threading.Event(), threading.Event()

    def worker_a() -> None:
        with unit_of_work(engine) as session:
            ticket = session.get(Ticket, first)
            assert ticket is not None
            picked["a"] = rotation.route_new(session, ticket, T0, POLICY).assignee
            holding.set()
            release.wait(10)  # the transaction stays open: its turn is not committed yet

    def worker_b() -> None:
        picked["b"] = _route(engine, second)

    a = threading.Thread(target=worker_a)
    a.start()
    assert holding.wait(10)
    if engine.dialect.name == "sqlite":
        release.set()  # one writer at a time: the second worker would only time out waiting
        a.join(10)
    b = threading.Thread(target=worker_b)
    b.start()
    b.join(0.5)
    if engine.dialect.name == "postgresql":
        assert b.is_alive(), "the second worker waits for the first one's turn"
    release.set()
    a.join(10)
    b.join(10)
    assert not a.is_alive() and not b.is_alive()
    assert picked == {"a": ANA, "b": LUIS}


@pytest.mark.parametrize("assign", ["none", "round-robin"])
def test_a_ticket_of_no_group_is_not_assigned(engine: Engine, assign: str) -> None:
    (ticket_id,) = _tickets(engine, 1)
    with unit_of_work(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.category = "general"
        policy = agent_policy(HELPDESK, AgentSettings(groups=[GROUP], assign=assign), sla=POLICY.sla)  # type: ignore[arg-type]
        route = rotation.route_new(session, ticket, T0, policy)
    assert (route.recipients, route.assignee) == ((ANA, LUIS, PACO), "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["away", "nadie@x.example", "--until", "2026-12-24"], "nadie@x.example: not one of [helpdesk] agents"),
        (["away", "ana@ventanilla.example", "--until", "mañana"], "--until: 'mañana' is not a date"),
        (["away", "ana@ventanilla.example", "--until", "2026-10-04"], "--until: '2026-10-04' is already past"),
        (["back", "nadie@x.example"], "nadie@x.example: not one of [helpdesk] agents"),
    ],
)
def test_agents_cli_refuses_bad_input_in_one_line(
    args: list[str], message: str, make_settings, db_url: str, engine: Engine, clock  # type: ignore[no-untyped-def]
) -> None:
    context = AppContext(None, clock)  # the clock says 2026-10-05
    context.__dict__.update(_loaded=(make_settings(db_url=db_url), "test"), engine=engine)
    result = CliRunner().invoke(agents_app, args, obj=context)
    assert (result.exit_code, message in result.output) == (2, True), result.output
    assert len(result.output.strip().splitlines()) == 1
    with read_only(engine) as session:
        assert rotation.away_until(session) == {}
