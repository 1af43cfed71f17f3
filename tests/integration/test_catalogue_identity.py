"""RELIABILITY.md E48, the part no test had: a Unicode homoglyph of an agent's address is not the agent.
Real database (SQLite and PostgreSQL), the agents harness of test_agents.py. See tests/RELIABILITY.md."""

from datetime import timedelta

import pytest

from tests.integration.test_agents import ANA, T0, Harness, answer, notification_for, open_ticket


@pytest.mark.parametrize(
    "from_header",
    [
        "Ana <\u0430na@ventanilla.example>",  # Cyrillic a in the local part
        "Ana <ana@ventan\u0456lla.example>",  # Cyrillic i in the domain
        "Ana <ana@xn--ventanlla-8gi.example>",  # the same domain as punycode
        "Ana <ana@ventanilla.example.>",  # a trailing dot
    ],
    ids=["cyrillic-local", "cyrillic-domain", "punycode", "trailing-dot"],
)
def test_e48_a_homoglyph_of_an_agents_address_is_not_the_agent(harness: Harness, from_header: str) -> None:
    number, _ = open_ticket(harness)
    note = notification_for(harness, ANA, number)
    result = harness.deliver(answer(note, from_header, "#close\nCerrada."), T0 + timedelta(hours=1))
    assert result.action in ("agent-refused", "quarantined", "ticketed"), result
    assert harness.ticket(number).status == "open" and harness.ticket(number).first_answered_at is None
    assert harness.sent("agent_reply") == []
    assert "agent-reply" not in harness.events(number)


@pytest.fixture
def harness(engine, db_url, make_settings) -> Harness:  # type: ignore[no-untyped-def]
    from tests.integration.test_agents import HELPDESK

    return Harness(engine, make_settings(db_url=db_url, helpdesk=HELPDESK))
