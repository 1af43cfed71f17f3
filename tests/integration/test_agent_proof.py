"""What proves an agent's mail (issue 12 item 7): the signed address it was sent to, never a Message-ID.

Our notifications' Message-IDs travel in the References of every later mail of the thread,
including a reply that the agent Cc's to the user. So a Message-ID is no proof at all on its
own: a mail that lost the plus-address counts only when `[agents] authserv_id` is set and our
MTA's Authentication-Results show the agent's DKIM/DMARC passing. The real pipeline end to end:
Dovecot in, the aiosmtpd sink out (the desk of test_agent_round_trip.py, reused).
"""

import re
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy

import pytest

from config.agents import AgentSettings
from config.settings import OutboundSettings
from tests.integration.smtp_sink import *  # noqa: F403  (the smtp_sink fixtures)
from tests.integration.test_agent_round_trip import (
    ANA,
    MARIA,
    SUPPORT,
    T0,
    Desk,
    Opened,
    addr,
    answer_part,
    event_kinds,
    new_mail,
    only,
    open_ticket,
    plain,
    press_reply,
    show,
    thread_of,
    to,
)
from tickets.agents.tokens import TOKEN_PATTERN

OUR_MX = "mx.ventanilla.example"
DKIM_PASS = f"{OUR_MX}; dkim=pass header.d=ventanilla.example; dmarc=pass header.from=ventanilla.example"
FORGED_PASS = "mx.evil.example; dkim=pass header.d=ventanilla.example; dmarc=pass header.from=ventanilla.example"
_TOKEN_ANYWHERE = re.compile(TOKEN_PATTERN, re.I)


def make_desk(settings_for, dovecot, imap_settings, smtp_sink, db_url, engine, clock, **sections) -> Desk:  # type: ignore[no-untyped-def]
    outbound = OutboundSettings(kind="smtp", host="127.0.0.1", port=smtp_sink.port, security="none", timeout_seconds=5)
    settings = settings_for(db_url=db_url, inbox=imap_settings(), outbound=outbound, **sections)
    return Desk(dovecot, smtp_sink, settings, engine, clock)


@pytest.fixture
def desk(dovecot, imap_settings, smtp_sink, make_settings, db_url, engine, clock) -> Desk:  # type: ignore[no-untyped-def]
    """The desk of test_agent_round_trip.py: the embedded default configuration, no authserv_id."""
    return make_desk(make_settings, dovecot, imap_settings, smtp_sink, db_url, engine, clock)


@pytest.fixture
def dkim_desk(dovecot, imap_settings, smtp_sink, make_settings, db_url, engine, clock) -> Desk:  # type: ignore[no-untyped-def]
    """The desk with `[agents] authserv_id` set to our MTA's."""
    agents = AgentSettings(authserv_id=OUR_MX)
    return make_desk(make_settings, dovecot, imap_settings, smtp_sink, db_url, engine, clock, agents=agents)


def with_headers(raw: bytes, **headers: str) -> bytes:
    msg = message_from_bytes(raw, policy=email_policy.default)
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return bytes(msg)


def anas_answer_copied_to_maria(desk: Desk, t: Opened) -> bytes:
    """Ana answers her notification at her signed address and Cc's María; María gets these bytes."""
    at = T0 + timedelta(hours=1)
    raw = with_headers(press_reply(t.to_ana, f"Ana Martín <{ANA}>", "Hola María, ya está.", at), Cc=MARIA)
    desk.arrive(raw, at)
    relayed = only(desk.work(at), MARIA, "agentreply")
    assert answer_part(relayed) == "Hola María, ya está."
    assert show(desk.engine, t.number)["status"] == "pending"
    return raw


def assert_refused_and_recorded(desk: Desk, number: int, sent: list, *, status: str) -> None:  # type: ignore[type-arg]
    data = show(desk.engine, number)
    assert data["status"] == status, "the forged command changed the ticket"
    refused = [e for e in data["events"] if e["kind"] == "agent-unauthenticated"]
    assert len(refused) == 1 and refused[0]["actor"] == ANA
    assert not to(sent, MARIA), "the user who forged the agent gets nothing about the ticket"
    assert {r for m in sent for r in m.rcpt_tos} == {ANA}, "only the real agent is told"
    only(sent, ANA, "commanderror")


@pytest.mark.parametrize("rcpt", ["plain support address", "a token found in the References"])
def test_user_forging_the_agent_with_the_threads_references_closes_nothing(desk: Desk, rcpt: str) -> None:
    t = open_ticket(desk)
    copy = message_from_bytes(anas_answer_copied_to_maria(desk, t), policy=email_policy.default)
    mid, refs = thread_of(copy)
    assert str(t.to_ana["Message-ID"]) in refs.split(), "the notification's Message-ID reached María"
    # Or she looks for anything shaped like a reply token in what she holds and writes to it.
    found = None if rcpt == "plain support address" else _TOKEN_ANYWHERE.search(refs)
    address = SUPPORT if found is None else f"soporte+{found.group(0)}@ventanilla.example"
    at = T0 + timedelta(hours=2)
    forged = new_mail(
        f"Ana Martín <{ANA}>",
        "#close\nCerrada por el agente.",
        at,
        rcpt=address,
        subject="Re: " + str(copy["Subject"]),
        in_reply_to=mid,
        references=refs,
    )
    desk.arrive(forged, at)
    assert_refused_and_recorded(desk, t.number, desk.work(at), status="pending")
    assert _TOKEN_ANYWHERE.search(refs) is None, "a Message-ID carries a reply token: a capability"


def test_the_genuine_agent_at_the_signed_address_still_acts(desk: Desk) -> None:
    t = open_ticket(desk)
    at = T0 + timedelta(hours=1)
    desk.arrive(press_reply(t.to_ana, f"Ana Martín <{ANA}>", "#close\nHola María, ya está.", at), at)
    sent = desk.work(at)
    assert answer_part(only(sent, MARIA, "agentreply")) == "Hola María, ya está."
    data = show(desk.engine, t.number)
    assert data["status"] == "closed" and "agent-unauthenticated" not in event_kinds(data)


def test_with_dkim_the_signed_address_still_needs_our_authentication_results(dkim_desk: Desk) -> None:
    t = open_ticket(dkim_desk)
    at = T0 + timedelta(hours=1)
    reply = press_reply(t.to_ana, f"Ana Martín <{ANA}>", "#close\nHola María, ya está.", at)
    dkim_desk.arrive(with_headers(reply, Authentication_Results=DKIM_PASS), at)
    assert answer_part(only(dkim_desk.work(at), MARIA, "agentreply")) == "Hola María, ya está."
    assert show(dkim_desk.engine, t.number)["status"] == "closed"


def test_with_dkim_a_reply_that_lost_the_plus_address_is_known_by_its_references(dkim_desk: Desk) -> None:
    t = open_ticket(dkim_desk)
    at = T0 + timedelta(hours=1)
    reply = press_reply(t.to_ana, f"Ana Martín <{ANA}>", "#pending\nHola María, ya está.", at, rcpt=SUPPORT)
    assert addr(message_from_bytes(reply)["To"]) == SUPPORT
    dkim_desk.arrive(with_headers(reply, Authentication_Results=DKIM_PASS), at)
    assert answer_part(only(dkim_desk.work(at), MARIA, "agentreply")) == "Hola María, ya está."
    data = show(dkim_desk.engine, t.number)
    assert data["status"] == "pending" and "agent-unauthenticated" not in event_kinds(data)


def test_with_dkim_a_forged_authentication_results_from_another_server_is_no_proof(dkim_desk: Desk) -> None:
    t = open_ticket(dkim_desk)
    at = T0 + timedelta(hours=1)
    reply = press_reply(t.to_ana, f"Ana Martín <{ANA}>", "#close\nCerrada.", at, rcpt=SUPPORT)
    dkim_desk.arrive(with_headers(reply, Authentication_Results=FORGED_PASS), at)
    assert_refused_and_recorded(dkim_desk, t.number, dkim_desk.work(at), status="open")


def test_a_reply_address_copied_to_the_user_is_replaced_and_the_forgery_refused(desk: Desk) -> None:
    """Ana Cc's María: María now holds Ana's signed address. It must stop working at once."""
    t = open_ticket(desk)
    copy = message_from_bytes(anas_answer_copied_to_maria(desk, t), policy=email_policy.default)
    leaked = addr(copy["To"])
    assert _TOKEN_ANYWHERE.search(leaked), "the copy María got shows Ana's signed reply address"
    data = show(desk.engine, t.number)
    replaced = [e for e in data["events"] if e["kind"] == "reply-address-replaced"]
    assert len(replaced) == 1 and MARIA in replaced[0]["detail"]
    at = T0 + timedelta(hours=2)
    forged = new_mail(f"Ana Martín <{ANA}>", "#close\nCerrada por el agente.", at, rcpt=leaked, subject="Re: x")
    desk.arrive(forged, at)
    sent = desk.work(at)
    assert show(desk.engine, t.number)["status"] == "pending", "the leaked address still acts as Ana"
    assert not to(sent, MARIA)
    error = only(sent, ANA, "commanderror")
    assert "replaced" in plain(error)


def test_the_agent_is_given_a_new_reply_address_that_works(desk: Desk) -> None:
    t = open_ticket(desk)
    at = T0 + timedelta(hours=1)
    raw = with_headers(press_reply(t.to_ana, f"Ana Martín <{ANA}>", "Hola María, ya está.", at), Cc=MARIA)
    desk.arrive(raw, at)
    sent = desk.work(at)
    notice = only(sent, ANA, "agentnotification")
    assert MARIA in plain(notice) and str(notice["Reply-To"]) != str(t.to_ana["Reply-To"])
    at += timedelta(hours=1)
    desk.arrive(press_reply(notice, f"Ana Martín <{ANA}>", "#close\nListo.", at), at)
    desk.work(at)
    assert show(desk.engine, t.number)["status"] == "closed"


def test_a_reply_copied_only_to_staff_keeps_the_address(desk: Desk) -> None:
    t = open_ticket(desk)
    at = T0 + timedelta(hours=1)
    cc = "Luis <luis@ventanilla.example>, supervision@ventanilla.example, Soporte+Ventas@Ventanilla.example"
    desk.arrive(with_headers(press_reply(t.to_ana, f"Ana Martín <{ANA}>", "Hola.", at), Cc=cc), at)
    sent = desk.work(at)
    assert not to(sent, ANA, "agentnotification"), "no outsider saw the address: nothing to replace"
    assert "reply-address-replaced" not in event_kinds(show(desk.engine, t.number))
