"""Alembic environment: runs on the connection handed over by tickets.migrate."""

from alembic import context
from sqlmodel import SQLModel

import tickets.ingest.presence  # noqa: F401  (registers the tables)
import tickets.instance  # noqa: F401
import tickets.models  # noqa: F401
import tickets.phone.models  # noqa: F401
import tickets.sla.models  # noqa: F401
import tickets.web.models  # noqa: F401

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations run through tickets.migrate.upgrade(engine)")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
