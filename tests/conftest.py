"""Shared fixtures: databases (SQLite and PostgreSQL), clocks, settings."""

import compileall
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from tests.dbhelpers import PG_ADMIN_URL, pg_schema
from tickets.clock import FakeClock
from tickets.db import make_engine
from tickets.migrate import at_head, upgrade

pytest_plugins = ["tests.integration.smtp_sink"]  # the aiosmtpd sink fixtures, for every test folder

IN_CI = os.environ.get("CI") == "true"
TEST_SECRET = "tests-only-secret-0123456789abcdefghijkl"  # what the embedded default no longer has


def _postgres_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_ok() -> bool:
    ok = _postgres_available()
    if not ok and IN_CI:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (CI must have it)")
    return ok


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the project's modules once: every `python -m ventanilla` the tests start would
    otherwise compile them from source again (~0.2 s each) wherever PYTHONDONTWRITEBYTECODE is
    set, as in many CI containers. Once per run: in the controller, not in each xdist worker."""
    if hasattr(session.config, "workerinput"):
        return
    root = Path(__file__).resolve().parents[1]
    for package in ("config", "tickets", "mailer", "scheduler", "ventanilla", "templates"):
        compileall.compile_dir(root / package, quiet=1)


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated by Alembic once per session: each test's database is a copy of
    its file, the same bytes a migration writes (a copy takes a millisecond, Alembic ~0.1 s)."""
    path = tmp_path_factory.mktemp("migrated") / "template.db"
    _migrate(f"sqlite:///{path}")
    assert not path.with_name(f"{path.name}-wal").exists(), "the template must be checkpointed"
    return path


def _migrated_sqlite(template: Path, path: Path) -> str:
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def pg_migration(postgres_ok: bool) -> list[tuple[str, Any]]:
    """The statements Alembic runs to migrate an empty PostgreSQL schema to head, recorded once per
    session; each test's fresh schema replays them (~0.1 s instead of ~0.3 s): the same DDL in the
    same order (the migrations hold no value computed in Python, and their reads change nothing)."""
    if not postgres_ok:
        return []
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    with pg_schema("m") as url:
        engine = make_engine(url)
        event.listen(engine, "before_cursor_execute", record)
        upgrade(engine)
        engine.dispose()
    with pg_schema("m") as url:  # the replay gives a schema at head
        _replay(url, statements)
        engine = make_engine(url)
        assert at_head(engine), "replaying the recorded migration did not reach head"
        engine.dispose()
    return statements


def _replay(url: str, statements: list[tuple[str, Any]]) -> None:
    engine = make_engine(url)
    try:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement, parameters in statements:
                cursor.execute(statement, parameters or None)
            raw.commit()
        finally:
            raw.close()
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_ok: bool,
    sqlite_template: Path,
    pg_migration: list[tuple[str, Any]],
) -> Iterator[str]:
    """A fresh, migrated database per test, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield _migrated_sqlite(sqlite_template, tmp_path / "test.db")
        return
    if not postgres_ok:
        pytest.skip("PostgreSQL not reachable")
    with pg_schema("t") as url:
        _replay(url, pg_migration)
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    engine = make_engine(_migrated_sqlite(sqlite_template, tmp_path / "unit.db"))
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 10, 5, 9, 0, tzinfo=UTC))


@pytest.fixture
def make_settings(tmp_path):  # type: ignore[no-untyped-def]
    """Factory: the embedded default settings with the given inbox and database."""
    from config.settings import DatabaseSettings, InboxSettings, OutboundSettings, Settings, load_settings

    def make(*, db_url: str, inbox: InboxSettings | None = None, **sections: object) -> Settings:
        base, _ = load_settings(None)
        update: dict[str, object] = {
            "database": DatabaseSettings(url=db_url),
            "inbox": inbox or InboxSettings(kind="maildir", path=str(tmp_path / "maildir")),
            "outbound": OutboundSettings(kind="file", path=str(tmp_path / "sent")),
            **sections,
        }
        settings = base.model_copy(update=update)
        if not settings.helpdesk.secret.get_secret_value():  # no built-in secret: tests bring their own
            helpdesk = settings.helpdesk.model_copy(update={"secret": SecretStr(TEST_SECRET)})
            settings = settings.model_copy(update={"helpdesk": helpdesk})
        return settings

    return make
