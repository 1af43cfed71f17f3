"""Builds the pieces from settings. Holds no business rules."""

from collections.abc import Callable, Sequence
from functools import partial

from sqlalchemy.engine import Engine

from config.settings import Settings
from mailer.macros import TemplateMacros
from mailer.maildir import MaildirSource
from mailer.parse import parse_message, policy_from_settings
from mailer.source import MailSource
from mailer.templating import TemplateRenderer
from mailer.transport import Transport, make_transport
from tickets.agents.mail import AgentPolicy, agent_policy
from tickets.clock import Clock
from tickets.ingest.rules import CategoryRuleSpec
from tickets.ingest.service import IngestPolicy
from tickets.sla.policy import SlaPolicy
from tickets.values import IngestResult
from ventanilla.app import App
from ventanilla.faq import LiveFaq
from ventanilla.pipeline.intake import Poller, PollLimits
from ventanilla.pipeline.outgoing import OutgoingQueue
from ventanilla.pipeline.process import Ingestor
from ventanilla.pipeline.sender import OutboxDrainer

Observe = Callable[[Sequence[IngestResult], float], None]  # a committed batch's results and seconds


def sla_policy(settings: Settings) -> SlaPolicy:
    """The one SLA policy: `[sla]` on the service's time zone."""
    return SlaPolicy.from_settings(settings.sla, settings.calendar.timezone)


def agents_policy(settings: Settings, sla: SlaPolicy | None = None) -> AgentPolicy:
    macros = TemplateMacros(TemplateRenderer(settings.templates.path, settings.helpdesk.language))
    return agent_policy(settings.helpdesk, settings.agents, sla=sla or sla_policy(settings), macros=macros)


def ingest_policy(settings: Settings, *, with_faq: bool = True, faq: LiveFaq | None = None) -> IngestPolicy:
    """The ingest decisions' settings; `with_faq` suggests from `faq` (else reads the FAQ folder now)."""
    helpdesk = settings.helpdesk
    sla = sla_policy(settings)
    return IngestPolicy(
        helpdesk_address=helpdesk.address,
        own_addresses=frozenset([helpdesk.address, *helpdesk.own_addresses]),
        default_language=helpdesk.language,
        categories=tuple(
            CategoryRuleSpec(name=c.name, keywords=tuple(c.keywords), priority=c.priority) for c in helpdesk.categories
        ),
        acks_per_hour=settings.outbound.acks_per_sender_per_hour,
        sla=sla,
        agents=agents_policy(settings, sla),
        faq=(faq if faq is not None else LiveFaq(settings)).policy() if with_faq else None,
    )


def make_source(settings: Settings) -> MailSource:
    if settings.inbox.kind == "imap":
        from mailer.imap import ImapSource

        return ImapSource(settings.inbox)
    return MaildirSource(settings.inbox)


def make_ingestor(app: App, *, parse_processes: int | None = None, observe: Observe | None = None) -> Ingestor:
    """Processing as the worker does it: the app's outbox (its batch writer) and its sender's wake-up.
    (`parse_processes` overrides `[inbox] parse_processes`: the web form parses in its own thread;
    `observe` is told of each batch, for the metrics.)"""
    settings = app.settings
    return Ingestor(
        app.engine,
        parse=partial(parse_message, policy=policy_from_settings(settings)),
        queue=app.outbox,
        batch=app.outbox.batch,
        policy=ingest_policy(settings, faq=app.faq),  # the app's FAQ: one per worker, reloaded on SIGHUP
        clock=app.clock,
        verp_secret=settings.helpdesk.secret.get_secret_value(),
        max_attempts=settings.limits.max_attempts,
        parse_processes=settings.inbox.parse_processes if parse_processes is None else parse_processes,
        parse_seconds=settings.limits.parse_seconds,
        batch_size=settings.inbox.batch_size,
        on_committed=app.wake,
        max_bytes=settings.limits.max_message_bytes,
        observe=observe,
    )


def make_poller(app: App, source: MailSource | None = None, observe: Observe | None = None) -> Poller:
    settings = app.settings
    limits = PollLimits(
        batch_size=settings.inbox.batch_size,
        batch_bytes=settings.inbox.batch_bytes,
        max_bytes=settings.limits.max_message_bytes,
    )
    return Poller(source or make_source(settings), make_ingestor(app, observe=observe), app.engine, limits)


def make_drainer(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    queue: OutgoingQueue | None = None,
    transport: Transport | None = None,
) -> OutboxDrainer:
    """The sender; mail it gives up on is told to the ticket's agent through `queue` (the app's outbox)."""
    return OutboxDrainer(
        engine,
        transport or make_transport(settings.outbound),
        clock,
        helpdesk=settings.helpdesk,
        outbound=settings.outbound,
        notify=queue or OutgoingQueue(settings),
    )
