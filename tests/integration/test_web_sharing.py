"""The web form with several workers on one database, quick corrections, and tickets it must not join."""

import re

from sqlalchemy import select
from sqlalchemy.engine import Engine

from tests.integration.test_web_form import page_and_token, web  # noqa: F401 (the fixture)
from tests.webhelpers import counts, filled
from tickets.clock import FakeClock
from tickets.db import read_only
from tickets.models import Event, Message, Ticket


def test_workers_sharing_a_database_share_the_caps(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def] # noqa: F811
    first, second = web(per_email_per_hour=3), web(per_email_per_hour=3)  # two Apps, as two workers
    for client in (first, second, first):
        assert client.post("/", data=filled(page_and_token(client, clock))).status_code == 200
    assert second.post("/", data=filled(page_and_token(second, clock))).status_code == 429
    assert counts(engine)["receipts"] == 3


def test_a_quick_correction_after_an_error_is_not_taken_for_a_bot(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def] # noqa: F811
    client = web()
    token = page_and_token(client, clock)
    refused = client.post("/", data=filled(token, email="ana@"))
    assert refused.status_code == 422
    clock.advance(seconds=1)  # fixed in a second: the page was served long enough ago
    token = re.search(r'name="csrf_token" value="([^"]+)"', refused.text)[1]  # type: ignore[index]
    assert "[#" in client.post("/", data=filled(token)).text
    assert counts(engine)["tickets"] == 1


def test_a_ticket_number_in_the_subject_never_joins_someone_elses_ticket(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def] # noqa: F811
    client = web()
    mine = client.post("/", data=filled(page_and_token(client, clock)))
    reference = re.search(r"\[#(\d+)\]", mine.text)[1]  # type: ignore[index]
    data = filled(page_and_token(client, clock), email="mallory@example.net", subject=f"Re: [#{reference}] dudas")
    theirs = client.post("/", data=data)
    other = re.search(r"\[#(\d+)\]", theirs.text)[1]  # type: ignore[index]
    assert other != reference
    with read_only(engine) as session:
        first = session.get(Ticket, int(reference))
        assert first is not None and first.requester_email == "ana@example.org"
        on_first = session.scalars(
            select(Message).where(Message.ticket_id == int(reference), Message.direction == "in")
        ).all()
    assert [m.from_addr for m in on_first] == ["ana@example.org"]


def test_concurrent_submissions_never_pass_the_cap(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def] # noqa: F811
    """Eight submissions for one address at once, through two workers: exactly the cap gets in."""
    from concurrent.futures import ThreadPoolExecutor

    workers = [web(per_email_per_hour=3, per_ip_per_hour=100) for _ in range(2)]
    forms = [(client, filled(page_and_token(client, clock))) for client in workers for _ in range(4)]
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda job: job[0].post("/", data=job[1]).status_code, forms))
    assert statuses == [200] * 3 + [429] * 5
    assert counts(engine)["receipts"] == 3


def test_the_chosen_topic_is_the_tickets_when_the_rules_find_none(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def] # noqa: F811
    client = web()
    plain = "Necesito ayuda con una gestión que no sé cómo hacer en la sede electrónica."
    chosen = client.post("/", data=filled(page_and_token(client, clock), message=plain, subject="", category="billing"))
    ruled = client.post("/", data=filled(page_and_token(client, clock), email="b@example.org", category="billing"))
    first, second = (int(re.search(r"\[#(\d+)\]", a.text)[1]) for a in (chosen, ruled))  # type: ignore[index]
    with read_only(engine) as session:
        assert session.get(Ticket, first).category == "billing"  # type: ignore[union-attr]
        assert session.get(Ticket, second).category == "renewal"  # type: ignore[union-attr]  # the rules win
        events = session.scalars(select(Event).where(Event.ticket_id == first, Event.kind == "category")).all()
    assert [(e.actor, e.detail) for e in events] == [("web-form", "general -> billing")]
