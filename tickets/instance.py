"""Values this installation keeps for itself, shared by every worker: the generated secret.

(No `from __future__ import annotations` here: sqlmodel#196.)
"""

from datetime import datetime

from sqlalchemy import Column, Text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel

from tickets.db import read_only, unit_of_work
from tickets.models import utc_column

SECRET_KEY = "helpdesk.secret"


class InstanceSetting(SQLModel, table=True):
    """One named value of this installation, written once (e.g. by `ventanilla init`)."""

    __tablename__ = "instance_setting"
    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = utc_column()


def read_setting(engine: Engine, key: str) -> tuple[str, datetime] | None:
    """(value, when it was written) of a stored setting, or None."""
    with read_only(engine) as session:
        row = session.get(InstanceSetting, key)
        return None if row is None else (row.value, row.created_at)


def put_once(engine: Engine, key: str, value: str, now: datetime) -> bool:
    """Store `value` under `key` unless a value is there already; True when this call stored it.

    Two processes doing it at once: the primary key lets one win; the other keeps the winner's.
    """
    if read_setting(engine, key) is not None:
        return False
    try:
        with unit_of_work(engine) as session:
            _add(session, key, value, now)
    except IntegrityError:
        return False
    return True


def _add(session: Session, key: str, value: str, now: datetime) -> None:
    session.add(InstanceSetting(key=key, value=value, created_at=now))
