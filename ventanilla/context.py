"""What every CLI command needs, built lazily so `--help` works without a configuration."""

import logging
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from config.settings import ConfigError, Settings, load_settings
from tickets.clock import Clock, SystemClock
from tickets.db import make_engine

if TYPE_CHECKING:
    from ventanilla.app import App

logger = logging.getLogger("ventanilla")


class AppContext:
    def __init__(self, config_path: Path | None, clock: Clock | None = None) -> None:
        self.config_path = config_path
        self.clock: Clock = clock or SystemClock()

    @cached_property
    def _loaded(self) -> tuple[Settings, str]:
        return load_settings(self.config_path)

    @property
    def settings(self) -> Settings:
        return self._loaded[0]

    @property
    def settings_source(self) -> str:
        return self._loaded[1]

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database.url)

    @cached_property
    def app(self) -> "App":
        """The one App of a CLI command (it queues mail; the worker sends it)."""
        from ventanilla.app import App

        return App(self.settings, self.engine, self.clock)

    def close(self) -> None:
        """Release database connections (called when the command ends)."""
        if "engine" in self.__dict__:
            self.engine.dispose()

    def announce(self) -> None:
        """The first log line says where the configuration came from."""
        if self.settings_source.startswith("embedded default"):
            logger.info("no configuration given: using the %s (SQLite and Maildir under ./var/)", self.settings_source)
        else:
            logger.info("configuration: %s", self.settings_source)


__all__ = ["AppContext", "ConfigError"]
