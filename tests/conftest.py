"""Shared fixtures: databases (SQLite and PostgreSQL), clocks, settings."""

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from tests.dbhelpers import PG_ADMIN_URL, pg_schema
from tickets.clock import FakeClock
from tickets.db import make_engine
from tickets.migrate import upgrade

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


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path, postgres_ok: bool) -> Iterator[str]:
    """A fresh, migrated database per test, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/test.db"
        _migrate(url)
        yield url
        return
    if not postgres_ok:
        pytest.skip("PostgreSQL not reachable")
    with pg_schema("t") as url:
        _migrate(url)
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/unit.db")
    upgrade(engine)
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
