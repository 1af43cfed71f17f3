"""Generic inserts on SQLite and PostgreSQL alike, with their statements built once. Never
commits: the unit of work does."""

import functools
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel


def insert_ignore(session: Session, model: type[SQLModel], values: dict[str, Any]) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike; the new id, or None on conflict."""
    if session.new or session.dirty:
        session.flush()
    dialect = session.get_bind().dialect.name
    row = session.connection().execute(_insert_ignore_stmt(model, dialect), values).first()
    return None if row is None else row[0]


@functools.cache
def insert_ignore_statement(model: type[SQLModel], dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING, for one row or many."""
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return maker(model.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]


@functools.cache
def _insert_ignore_stmt(model: type[SQLModel], dialect: str) -> Any:
    key = model.__table__.primary_key.columns.values()[0]  # type: ignore[attr-defined]
    return insert_ignore_statement(model, dialect).returning(key)


def insert_row(session: Session, model: type[SQLModel], values: dict[str, Any]) -> int:
    """A plain INSERT returning the new id: several times cheaper than ORM add + flush."""
    if session.new or session.dirty:
        session.flush()  # rows added through the ORM must exist before ours refer to them
    return int(session.connection().execute(_insert_returning_id(model), values).scalar_one())


def insert_ignore_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]], column: Any) -> list[Any]:
    """INSERT ... ON CONFLICT DO NOTHING of many rows in one statement; `column` of those added."""
    if not rows:
        return []
    if session.new or session.dirty:
        session.flush()
    statement = insert_ignore_statement(model, session.get_bind().dialect.name).returning(column)
    return list(session.connection().execute(statement, rows).scalars())


def insert_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """One INSERT of many rows (executemany), ids not returned."""
    if session.new or session.dirty:
        session.flush()
    session.connection().execute(_insert(model), rows)


@functools.cache
def _insert(model: type[SQLModel]) -> Any:
    return insert(model.__table__)  # type: ignore[attr-defined]


@functools.cache
def _insert_returning_id(model: type[SQLModel]) -> Any:
    table = model.__table__  # type: ignore[attr-defined]
    return insert(table).returning(table.c.id)
