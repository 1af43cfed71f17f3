"""Create or upgrade the database schema with Alembic.

Every worker start checks the schema; when it is at the newest revision already (the usual
case) that check reads the revision files' ids and the database's `alembic_version` only, so
Alembic itself is imported only when there is something to do.
"""

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
_REVISION = re.compile(r"^revision(?::[^=\n]*)?=\s*['\"](\w+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?::[^=\n]*)?=\s*['\"](\w+)['\"]", re.MULTILINE)


def alembic_config() -> "Config":
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revisions() -> set[str]:
    """The newest revisions, from the revision files' ids (a merge revision's tuple of parents is
    not read: its parents then look like heads, and the full upgrade runs, which is always right)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revisions.update(_REVISION.findall(source))
        parents.update(_DOWN_REVISION.findall(source))
    return revisions - parents


def at_head(engine: Engine) -> bool:
    """Whether the database's schema is at the newest revision already."""
    try:
        with engine.connect() as connection:
            found = {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError:  # no schema yet
        return False
    heads = head_revisions()
    return bool(heads) and found == heads


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (default: the newest)."""
    if revision == "head" and at_head(engine):
        return
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def make_revision(engine: Engine, message: str) -> None:
    """Developer helper: autogenerate a new revision against `engine`."""
    from alembic import command

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
