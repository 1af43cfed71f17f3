"""Engines and the unit of work: the only place that commits."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from tickets.errors import DatabaseUnavailableError

logger = logging.getLogger(__name__)
READ_ONLY = "ventanilla_read_only"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    """An engine; SQLite gets WAL, foreign keys and a busy timeout."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
    # Writers serialise at BEGIN instead of failing later with "database is locked";
    # readers take no write lock, so a long report never holds up ingestion.
    read_only = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    try:
        session = Session(engine, expire_on_commit=False)
    except OperationalError as exc:  # pragma: no cover - connection is lazy
        raise DatabaseUnavailableError(str(exc)) from exc
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise DatabaseUnavailableError(str(exc.orig or exc)) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A Core connection in one transaction, committed on success: for hot paths that need no ORM."""
    try:
        with engine.begin() as connection:
            yield connection
    except OperationalError as exc:
        raise DatabaseUnavailableError(str(exc.orig or exc)) from exc


@contextmanager
def read_only(engine: Engine) -> Iterator[Session]:
    """A session for queries; nothing is committed (on SQLite it takes no write lock). The
    database failing raises DatabaseUnavailableError, as in a unit of work."""
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            with Session(bind=connection, expire_on_commit=False) as session:
                yield session
    except OperationalError as exc:
        raise DatabaseUnavailableError(str(exc.orig or exc)) from exc
