"""Issue 12 item 8 (RELIABILITY C31): our own addresses, in any case and with any +sub-address,
never receive our mail and never become participants of a ticket."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.integration.test_agents import (
    ANA,
    HELPDESK,
    MARIA,
    PEPE,
    SUPPORT,
    T0,
    Harness,
    answer,
    notification_for,
    open_ticket,
)
from tickets import repository as repo
from tickets.db import read_only, unit_of_work
from tickets.models import Outbox, Participant
from tickets.phone import calls as phone
from ventanilla.phone_cli import phone_policy

OURS_PLUS = "Soporte+Ventas@Ventanilla.Example"


@pytest.fixture
def harness(engine, db_url, make_settings) -> Harness:  # type: ignore[no-untyped-def]
    return Harness(engine, make_settings(db_url=db_url, helpdesk=HELPDESK))


def _recipients(h: Harness, kind: str) -> list[str]:
    with read_only(h.engine) as session:
        rows = session.scalars(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id)).all()
    return [r for row in rows for r in row.recipients.split(",")]


def test_a_cc_to_our_plus_address_is_no_participant_and_gets_no_agent_reply(harness: Harness) -> None:
    number, _ = open_ticket(harness, cc=f"{OURS_PLUS}, {PEPE}, SOPORTE@ventanilla.example")
    with read_only(harness.engine) as session:
        people = repo.participants(session, [number])[number]
    assert people == {MARIA, PEPE}
    note = notification_for(harness, ANA, number)
    harness.deliver(answer(note, ANA, "Hola María, pruebe así."), T0 + timedelta(hours=1))
    assert sorted(_recipients(harness, "agent_reply")) == [MARIA, PEPE]


def test_an_own_address_already_stored_as_participant_is_never_sent_to(harness: Harness) -> None:
    number, _ = open_ticket(harness, cc=PEPE)
    with unit_of_work(harness.engine) as session:  # a row written before the fix
        session.add(Participant(ticket_id=number, email="soporte+ventas@ventanilla.example", role="cc"))
    note = notification_for(harness, ANA, number)
    harness.deliver(answer(note, ANA, "Hola María."), T0 + timedelta(hours=1))
    sent_to = _recipients(harness, "agent_reply")
    assert sorted(sent_to) == [MARIA, PEPE] and not any(SUPPORT.split("@")[0] in r for r in sent_to)


def test_a_phone_call_logged_with_our_own_address_is_refused(engine, make_settings, db_url) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(db_url=db_url, helpdesk=HELPDESK)
    call = phone.CallRecord(started_at=T0, outcome="answered", caller_email=OURS_PLUS, summary="Hablamos")
    with unit_of_work(engine) as session, pytest.raises(phone.CallError, match="own addresses"):
        phone.record_call(session, call, now=T0, policy=phone_policy(settings))
