"""The start-up schema check reads the newest revision without Alembic: it must agree with Alembic."""

from alembic import command
from alembic.script import ScriptDirectory

from tickets.db import make_engine
from tickets.migrate import alembic_config, at_head, head_revisions, upgrade


def test_head_revisions_agree_with_alembic() -> None:
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    assert head_revisions() == heads


def test_at_head_only_once_the_schema_is_upgraded(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/schema.db")
    try:
        assert not at_head(engine)  # no schema at all
        upgrade(engine)
        assert at_head(engine)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "-1")
        assert not at_head(engine)  # one revision behind: the full upgrade runs
        upgrade(engine)
        assert at_head(engine)
    finally:
        engine.dispose()
