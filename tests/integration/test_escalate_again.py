"""An agent's explicit `#escalate` on a ticket that is already escalated is recorded and told."""

from datetime import timedelta

import pytest

from tests.integration.test_agents import (
    ANA,
    BOSS,
    HELPDESK,
    LUIS,
    T0,
    Harness,
    answer,
    body_of,
    notification_for,
    open_ticket,
)
from tickets import repository as repo
from tickets.agents import actions as agent_actions
from tickets.db import read_only, unit_of_work


@pytest.fixture
def harness(engine, db_url, make_settings) -> Harness:  # type: ignore[no-untyped-def]
    return Harness(engine, make_settings(db_url=db_url, helpdesk=HELPDESK))


@pytest.mark.parametrize("by_cli", [False, True])
def test_escalating_an_escalated_ticket_again_is_recorded_and_told(harness: Harness, by_cli: bool) -> None:
    number, _ = open_ticket(harness)
    first = "#escalate needs registry\nWe passed it on."
    harness.deliver(answer(notification_for(harness, ANA, number), ANA, first), T0 + timedelta(hours=1))
    assert harness.ticket(number).status == "escalated" and len(harness.sent("agent_notification", BOSS)) == 1
    at = T0 + timedelta(hours=2)
    if by_cli:
        with unit_of_work(harness.engine) as session:
            reason = "still nothing from registry"
            for intent in agent_actions.escalate(session, number, LUIS, reason, at, harness.policy):
                harness.queue(session, intent, at)
    else:
        top = "#escalate still nothing from registry"
        harness.deliver(answer(notification_for(harness, LUIS, number), LUIS, top), at)
    with read_only(harness.engine) as session:
        escalations = [e for e in repo.ticket_events(session, number) if e.kind == "escalated"]
    assert len(escalations) == 2 and "still nothing from registry" in escalations[1].detail
    assert "again" in escalations[1].detail and escalations[1].actor == LUIS
    alerts = harness.sent("agent_notification", BOSS)
    assert len(alerts) == 2 and "still nothing from registry" in body_of(alerts[1])
    assert harness.ticket(number).status == "escalated"
