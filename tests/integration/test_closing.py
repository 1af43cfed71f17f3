"""A resolved ticket closes after the quiet period with one last message to the user."""

from datetime import timedelta

from sqlalchemy import select

from scheduler.jobs import run_sla_sweep
from tests.mailgen import backlog
from tickets.db import read_only, unit_of_work
from tickets.models import Event, Outbox, Ticket
from tickets.sla.sweep import SweepPolicy
from tickets.values import ReceiptKey
from ventanilla.app import App
from ventanilla.wiring import make_ingestor


def test_resolved_ticket_closes_after_seven_quiet_days_with_one_notice(make_settings, db_url, engine, clock) -> None:
    settings = make_settings(db_url=db_url)
    mail = backlog(1)[0]
    ticket_id = (
        make_ingestor(App(settings, engine, clock))
        .process(ReceiptKey(mailbox="s", uidvalidity=1, uid=1), mail["raw"], clock.now())
        .ticket_id
    )
    with unit_of_work(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        ticket.status, ticket.updated_at = "resolved", clock.now()
        session.add(ticket)
    policy, jobs = SweepPolicy.from_settings(settings), App(settings, engine, clock)

    run_sla_sweep(jobs, now=clock.now() + timedelta(days=6, hours=23), policy=policy)
    with read_only(engine) as session:
        assert session.get(Ticket, ticket_id).status == "resolved"
    for _ in range(2):  # a second sweep (another worker, a restart) sends nothing more
        run_sla_sweep(jobs, now=clock.now() + timedelta(days=7, minutes=1), policy=policy)

    with read_only(engine) as session:
        assert session.get(Ticket, ticket_id).status == "closed"
        notices = session.scalars(select(Outbox).where(Outbox.kind == "ticket_closed")).all()
        closed = session.scalars(select(Event.kind).where(Event.ticket_id == ticket_id, Event.kind == "closed")).all()
    assert len(notices) == 1 and notices[0].recipients == mail["sender"] and closed == ["closed"]
    raw = notices[0].raw.decode()
    assert f"[#{ticket_id}]" in raw and "Auto-Submitted: auto-generated" in raw and mail["message_id"] in raw
