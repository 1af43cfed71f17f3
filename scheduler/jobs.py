"""The recurring jobs. Each is one unit of work and idempotent, so a repeat is harmless."""

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from config.phone import PhoneSettings
from config.settings import Settings
from scheduler.locking import try_job_lock
from tickets.closing import close_quiet_resolved
from tickets.db import unit_of_work
from tickets.mail_context import ReportContext
from tickets.outbox import Queue
from tickets.report import display, monthly_report, previous_month
from tickets.sla_digest import daily_digest
from tickets.sla_service import SweepPolicy, SweepResult, sweep
from tickets.values import OutgoingEmail

logger = logging.getLogger(__name__)

MonthlyReportHook = Callable[[Engine, datetime], object]  # what it returns is ignored


def run_sla_sweep(engine: Engine, *, now: datetime, policy: SweepPolicy, queue: Queue) -> SweepResult:
    """One sweep in one transaction: alerts, escalations, events and their mail commit together."""
    with unit_of_work(engine) as session:
        if not try_job_lock(session, "sla-sweep"):
            logger.debug("another worker is sweeping", extra={"action": "sla-sweep-skipped"})
            return SweepResult(now=now, skipped=True)
        result = sweep(session, now=now, policy=policy)
        closing = close_quiet_resolved(session, now=now, quiet=policy.resolved_quiet)
        for intent in (*result.outgoing, *closing):
            queue(session, intent, now)
    return result


def run_daily_digest(engine: Engine, *, now: datetime, policy: SweepPolicy, queue: Queue) -> int:
    """Queue the daily digest for every supervisor (keyed by local date: once a day)."""
    with unit_of_work(engine) as session:
        if not try_job_lock(session, "sla-digest"):
            return 0
        intents = daily_digest(session, now=now, policy=policy)
        for intent in intents:
            queue(session, intent, now)
    logger.info("daily digest queued for %d supervisors", len(intents), extra={"action": "digest"})
    return len(intents)


def log_monthly_report(engine: Engine, now: datetime) -> None:
    """The default monthly-report hook until the report exists: it only says it ran."""
    logger.info("monthly report hook ran for %s (no report registered)", now.date(), extra={"action": "monthly"})


def run_monthly_report(engine: Engine, *, now: datetime, hook: MonthlyReportHook) -> None:
    hook(engine, now)


def mail_monthly_report(engine: Engine, now: datetime, *, settings: Settings, queue: Queue) -> int:
    """Queue last month's report (templates/<lang>/report.*) to every supervisor, once per month."""
    zone, helpdesk = settings.calendar.timezone, settings.helpdesk
    phone = getattr(settings, "phone", None)
    language = (phone.report_language if isinstance(phone, PhoneSettings) else "") or helpdesk.language
    month = previous_month(now, zone)
    with unit_of_work(engine) as session:
        if not try_job_lock(session, "monthly-report"):
            return 0
        figures = monthly_report(session, month=month, timezone=zone)
        context = ReportContext(report=display(figures, language))
        for supervisor in helpdesk.supervisors:
            intent = OutgoingEmail(
                kind="report",
                ticket_id=None,
                to=(supervisor,),
                idempotency_key=f"report:{month}:{supervisor}",
                language=language,
                auto_submitted="auto-generated",
                context=context,
            )
            queue(session, intent, now)
    logger.info(
        "monthly report %s queued for %d supervisors", month, len(helpdesk.supervisors), extra={"action": "monthly"}
    )
    return len(helpdesk.supervisors)
