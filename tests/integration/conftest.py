"""Fixtures for the private Dovecot: one server per session, a fresh user per test."""

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from config.settings import InboxSettings
from tests.integration.dovecot import DOVECOT_BIN, WITHOUT_MOVE, Dovecot, DovecotError


def _start_or_skip(**options: Any) -> Dovecot:
    """In CI a Dovecot that cannot start is a failure; locally a missing binary is a skip."""
    in_ci = os.environ.get("CI", "").lower() == "true"
    if not DOVECOT_BIN.exists():
        if in_ci:
            pytest.fail(f"{DOVECOT_BIN} not found (install dovecot-imapd)")
        pytest.skip(f"{DOVECOT_BIN} not found: install the Debian package dovecot-imapd")
    server = Dovecot(**options)
    try:
        server.start()
    except DovecotError as exc:
        server.destroy()
        if in_ci:
            pytest.fail(str(exc))
        pytest.skip(f"dovecot did not start: {exc}")
    return server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use a Dovecot fixture carry the `dovecot` marker (for -m selection)."""
    for item in items:
        if any(name.startswith("dovecot") for name in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.dovecot)


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """A plain-text (ssl = no) Dovecot on a free loopback port for the whole session."""
    server = _start_or_skip()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def dovecot_tls_server() -> Iterator[Dovecot]:
    """A Dovecot with a self-signed cert: STARTTLS on `port`, IMAPS on `imaps_port`."""
    server = _start_or_skip(tls=True)
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def dovecot_without_move_server() -> Iterator[Dovecot]:
    """A Dovecot that does not announce MOVE: clients must COPY + UID EXPUNGE."""
    server = _start_or_skip(extra_config=WITHOUT_MOVE)
    yield server
    server.destroy()


@pytest.fixture
def dovecot_without_move(dovecot_without_move_server: Dovecot) -> Dovecot:
    dovecot_without_move_server.start()
    dovecot_without_move_server.reset()
    return dovecot_without_move_server


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    """The session server, running, switched to a brand-new empty user."""
    dovecot_server.start()  # a test may have stopped it
    dovecot_server.reset()
    return dovecot_server


@pytest.fixture
def dovecot_tls(dovecot_tls_server: Dovecot) -> Dovecot:
    dovecot_tls_server.start()
    dovecot_tls_server.reset()
    return dovecot_tls_server


@pytest.fixture
def imap_settings(dovecot: Dovecot) -> Callable[..., InboxSettings]:
    """Factory: InboxSettings for the current Dovecot user; keyword overrides win."""

    def make(**overrides: Any) -> InboxSettings:
        values: dict[str, Any] = {
            "kind": "imap",
            "name": "test-inbox",
            "host": "127.0.0.1",
            "port": dovecot.port,
            "security": "none",
            "username": dovecot.user,
            "password": dovecot.password,
            "idle_seconds": 10,
            "poll_seconds": 0.2,
            "timeout_seconds": 5.0,
        }
        values.update(overrides)
        return InboxSettings(**values)

    return make
