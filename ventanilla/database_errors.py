"""A database error the operator can act on, said in one line instead of a traceback."""

from sqlalchemy.engine import Engine

from tickets.migrate import schema_state

NOT_INITIALISED = "the database {url} is not initialised: run `ventanilla init`"
OUTDATED = "the database {url} has an older schema than this version: run `ventanilla init` to upgrade it"


def schema_problem(engine: Engine) -> str:
    """What is wrong with the schema ("" when it is current); raises when the database is unreachable."""
    url = engine.url.render_as_string(hide_password=True)
    state = schema_state(engine)
    if state == "missing":
        return NOT_INITIALISED.format(url=url)
    if state == "outdated":
        return OUTDATED.format(url=url)
    return ""


def explain(engine: Engine, error: Exception) -> str:
    """One line for a database error: the schema to create or upgrade, or the database unreachable;
    "" when neither explains it (a fault: the caller lets it go up)."""
    url = engine.url.render_as_string(hide_password=True)
    try:
        return schema_problem(engine)
    except Exception as exc:
        first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
        return f"cannot reach the database {url}: {first}"
