"""Create or upgrade the database schema with Alembic."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def make_revision(engine: Engine, message: str) -> None:
    """Developer helper: autogenerate a new revision against `engine`."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def schema_state(engine: Engine) -> str:
    """"missing" (never initialised), "outdated" (an older schema) or "current"."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if not current:
        return "missing"
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return "current" if current == heads else "outdated"
