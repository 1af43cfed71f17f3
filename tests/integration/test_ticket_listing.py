"""Finding tickets (tickets.listing): filters, 'N of M', full-text search with Spanish and English
stems, the same on SQLite and PostgreSQL, kept in step by the thread writer and backfilled."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from tickets import search, threads
from tickets.db import read_only, unit_of_work
from tickets.listing import TicketFilter, earlier_tickets, list_tickets
from tickets.migrate import upgrade
from tickets.models import Ticket

START = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)


def ticket_values(n: int, **fields: Any) -> dict[str, Any]:
    at = START + timedelta(hours=n)
    return {
        "status": "open",
        "priority": "normal",
        "category": "general",
        "language": "es",
        "requester_email": f"user{n}@correo.example",
        "requester_name": "",
        "subject": f"Consulta {n}",
        "created_at": at,
        "updated_at": at,
        "cycle": 1,
        "cycle_started_at": at,
        "response_due_at": at + timedelta(hours=24),
        "hard_due_at": at + timedelta(hours=48),
        "first_answered_at": None,
        "assigned_agent": "",
        "linked_ticket_id": None,
        "requester_undeliverable": False,
        **fields,
    }


def add(engine: Engine, n: int, body: str = "", kind: str = "user", **fields: Any) -> int:
    values = ticket_values(n, **fields)
    with unit_of_work(engine) as session:
        ticket_id = threads.insert_ticket(session, values)
        if body:
            message = {"ticket_id": ticket_id, "direction": "in", "kind": kind, "text": body}
            threads.add_message(session, {**message, "created_at": values["created_at"]})
    return ticket_id


def ids(engine: Engine, limit: int = 0, **filters: Any) -> list[int]:
    with read_only(engine) as session:
        tickets, _ = list_tickets(session, TicketFilter(**filters), limit=limit)
    return [t.id or 0 for t in tickets]


def test_stems_fold_accents_and_plurals() -> None:
    assert search.fold("Renovación Ñandú") == "renovacion nandu"
    document = set(search.terms(["El certificado caducado no se renueva"]).split())
    for group in search.query_groups("CERTIFICADOS caducados"):
        assert document & set(group), group
    assert not set(search.terms(["certificado"]).split()) & set(search.query_groups("caducado")[0])
    assert search.query_groups("!!! ---") == []


def test_filters_newest_first_and_the_total(engine: Engine) -> None:
    first = add(engine, 1, status="closed", requester_email="ana@correo.example")
    second = add(engine, 2, priority="urgent", category="revocation", assigned_agent="luis@ventanilla.example")
    third = add(engine, 3, requester_email="ana@correo.example")
    with read_only(engine) as session:
        shown, total = list_tickets(session, TicketFilter(), limit=2)
    assert [t.id for t in shown] == [third, second] and total == 3
    assert ids(engine) == [third, second, first], "limit 0 is all"
    assert ids(engine, status="closed") == [first]
    assert ids(engine, requester="ANA@correo.example") == [third, first]
    assert ids(engine, agent="luis@ventanilla.example") == [second]
    assert ids(engine, category="revocation") == ids(engine, priority="urgent") == [second]
    at = START + timedelta(hours=2)
    assert ids(engine, since=at) == [third, second] and ids(engine, until=at) == [first]
    with read_only(engine) as session:
        history = earlier_tickets(session, session.get(Ticket, third))  # type: ignore[arg-type]
    assert [t.id for t in history] == [first]


def test_search_finds_plurals_accents_and_every_word_across_the_ticket(engine: Engine) -> None:
    expired = add(engine, 1, "Hola, mi certificado caducado no me deja firmar.")
    renewal = add(engine, 2, "Quiero la renovación", subject="Renovacion de CERTIFICADO")
    english = add(engine, 3, "My certificates expired yesterday", language="en")
    split = add(engine, 4, "ya está caducado", subject="Certificado de firma")
    robot = add(engine, 5, "certificado caducado", kind="ack")  # our own mail is not searched
    assert robot not in ids(engine, search="caducado")
    assert ids(engine, search="certificados caducados") == [split, expired]
    assert ids(engine, search="renovacion") == ids(engine, search="RENOVACIÓN") == [renewal]
    assert ids(engine, search="expiring certificate") == [english]
    assert ids(engine, search="caducados", status="open", limit=1) == [split]
    assert ids(engine, search="inexistente") == [] and ids(engine, search="¿?") == []


def test_the_migration_indexes_tickets_written_before_it(engine: Engine) -> None:
    ticket = add(engine, 1, "el certificado caducado", subject="Firma")
    _downgrade(engine, "ca5fbf4201a5-1")  # back to before search existed: the ticket stays
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM ticket")).scalar() == 1
    assert not inspect(engine).has_table("search_text")
    upgrade(engine)
    assert ids(engine, search="certificados caducados firma") == [ticket]


def _downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    from tickets.migrate import alembic_config

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
