"""The status facts of this installation, read from the database, and the health verdict on them:
what `ventanilla status`, `/healthz` and `/metrics` share."""

from sqlalchemy.engine import Engine

from config.settings import Settings
from tickets.clock import Clock
from tickets.db import read_only
from tickets.errors import DatabaseUnavailableError
from tickets.sla.policy import SlaPolicy
from tickets.status.facts import Health, HealthPolicy, StatusFacts, judge_health
from tickets.status.queries import gather_facts


class FactsReader:
    """Reads the facts (a few cheap queries) and judges health; blocking: run it in a thread."""

    def __init__(self, settings: Settings, engine: Engine, clock: Clock) -> None:
        self.settings, self.engine, self.clock = settings, engine, clock
        self.mailbox = settings.inbox.name
        self.sla = SlaPolicy.from_settings(settings.sla, settings.calendar.timezone)
        self.policy = HealthPolicy(
            poll_seconds=settings.inbox.poll_seconds,
            max_outbox_age_seconds=settings.metrics.max_outbox_age_seconds,
        )

    def facts(self, *, totals: bool = True) -> StatusFacts:
        """The facts now (without `totals`: live statuses only, see gather_facts);
        DatabaseUnavailableError when the database does not answer."""
        try:
            with read_only(self.engine) as session:
                connection = session.connection()
                return gather_facts(connection, now=self.clock.now(), mailbox=self.mailbox, sla=self.sla, totals=totals)
        except DatabaseUnavailableError:
            raise
        except Exception as exc:  # a schema not created yet, a driver error: the database is not usable
            raise DatabaseUnavailableError(f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc

    def check(self, *, totals: bool = False) -> tuple[StatusFacts | None, Health]:
        """The facts (None when the database did not answer) and the verdict on them (which needs
        no totals: /healthz stays cheap however much history the database keeps)."""
        try:
            facts = self.facts(totals=totals)
        except DatabaseUnavailableError as exc:
            return None, judge_health(None, self.policy, database_error=str(exc).splitlines()[0] if str(exc) else "")
        return facts, judge_health(facts, self.policy)
