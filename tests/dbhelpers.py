"""Database helpers shared by the integration and e2e tests."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine

from tickets.db import read_only
from tickets.models import Message

PG_ADMIN_URL = os.environ.get("VENTANILLA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, as a URL whose search_path points at it; dropped after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def inbound_by_message_id(engine: Engine) -> dict[str, list[int]]:
    """Every inbound message's Message-ID with the tickets it is stored on."""
    with read_only(engine) as session:
        rows = session.execute(select(Message.message_id, Message.ticket_id).where(Message.direction == "in"))
        found: dict[str, list[int]] = {}
        for message_id, ticket_id in rows:
            found.setdefault(message_id, []).append(ticket_id)
    return found
