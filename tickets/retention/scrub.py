"""Replace an address wherever a text column holds it, in every table of the schema (tables added
later included), case-insensitively: what erasure does last, so no copy of the address stays."""

import re
from typing import Any

from sqlalchemy import String, Table, func, select, update
from sqlmodel import Session, SQLModel


def _holds_text(column: Any) -> bool:
    kind = column.type
    return isinstance(kind, String) or isinstance(getattr(kind, "impl", None), String)  # SQLModel's AutoString


def text_columns(table: Table) -> list[Any]:
    """The columns of a table that hold text."""
    return [c for c in table.columns if _holds_text(c)]


def replace_address(session: Session, address: str, pseudonym: str) -> dict[str, int]:
    """Every text cell containing `address` (any case) gets `pseudonym` in its place; the cells
    changed, by "table.column"."""
    pattern = re.compile(re.escape(address), re.IGNORECASE)
    changed: dict[str, int] = {}
    for table in SQLModel.metadata.sorted_tables:
        keys = list(table.primary_key.columns)
        for column in text_columns(table):
            query = select(*keys, column).where(func.lower(column).contains(address.lower(), autoescape=True))
            rows = session.connection().execute(query).all()
            for row in rows:
                new = pattern.sub(pseudonym, row[-1])
                where = [key == value for key, value in zip(keys, row[:-1], strict=True)]
                session.connection().execute(update(table).where(*where).values({column.name: new}))
            if rows:
                changed[f"{table.name}.{column.name}"] = len(rows)
    return changed


def count_address(session: Session, address: str) -> int:
    """Text cells that hold `address` (any case), in every table."""
    total = 0
    for table in SQLModel.metadata.sorted_tables:
        for column in text_columns(table):
            query = select(func.count()).select_from(table)
            query = query.where(func.lower(column).contains(address.lower(), autoescape=True))
            total += int(session.connection().execute(query).scalar() or 0)
    return total
