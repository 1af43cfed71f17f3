"""The recurring jobs. Each is one unit of work and idempotent, so a repeat is harmless."""

import logging
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from config.phone import PhoneSettings
from config.settings import Settings
from scheduler.locking import try_job_lock
from tickets.mail_context import ReportContext
from tickets.report.figures import display, previous_month
from tickets.report.queries import monthly_report
from tickets.retention.purge import purge
from tickets.sla.closing import close_quiet_resolved
from tickets.sla.digest import daily_digest
from tickets.sla.sweep import SweepPolicy, SweepResult, sweep
from tickets.values import OutgoingEmail
from tickets.work import UseCases, as_mail

logger = logging.getLogger(__name__)

MonthlyReportHook = Callable[[UseCases, datetime], object]  # what it returns is ignored


def run_sla_sweep(app: UseCases, *, now: datetime, policy: SweepPolicy) -> SweepResult:
    """One sweep in one transaction: alerts, escalations, quiet tickets closed, and their mail."""

    def work(session: Session, at: datetime) -> tuple[SweepResult, tuple[OutgoingEmail, ...]]:
        if not try_job_lock(session, "sla-sweep"):
            logger.debug("another worker is sweeping", extra={"action": "sla-sweep-skipped"})
            return SweepResult(now=at, skipped=True), ()
        result = sweep(session, now=at, policy=policy)
        closing = close_quiet_resolved(session, now=at, quiet=policy.resolved_quiet)
        return result, (*result.outgoing, *closing)

    result, _ = app.run(work, now=now, mail=lambda done: done[1], name="sla-sweep")
    return result


def run_daily_digest(app: UseCases, *, now: datetime, policy: SweepPolicy) -> int:
    """Queue the daily digest for every supervisor (keyed by local date: once a day)."""

    def work(session: Session, at: datetime) -> tuple[OutgoingEmail, ...]:
        return tuple(daily_digest(session, now=at, policy=policy)) if try_job_lock(session, "sla-digest") else ()

    intents = app.run(work, now=now, mail=as_mail)
    logger.info("daily digest queued for %d supervisors", len(intents), extra={"action": "digest"})
    return len(intents)


def run_monthly_report(app: UseCases, *, now: datetime, hook: MonthlyReportHook) -> None:
    hook(app, now)


def mail_monthly_report(app: UseCases, now: datetime, *, settings: Settings) -> int:
    """Queue last month's report (templates/<lang>/report.*) to every supervisor, once per month."""
    zone, helpdesk = settings.calendar.timezone, settings.helpdesk
    phone = getattr(settings, "phone", None)
    language = (phone.report_language if isinstance(phone, PhoneSettings) else "") or helpdesk.language
    month = previous_month(now, zone)

    def work(session: Session, at: datetime) -> list[OutgoingEmail]:
        if not try_job_lock(session, "monthly-report"):
            return []
        context = ReportContext(report=display(monthly_report(session, month=month, timezone=zone), language))
        return [
            OutgoingEmail(
                kind="report",
                ticket_id=None,
                to=(supervisor,),
                idempotency_key=f"report:{month}:{supervisor}",
                language=language,
                auto_submitted="auto-generated",
                context=context,
            )
            for supervisor in helpdesk.supervisors
        ]

    intents = app.run(work, now=now, mail=as_mail)
    logger.info("monthly report %s queued for %d supervisors", month, len(intents), extra={"action": "monthly"})
    return len(intents)


def retention_cutoff(now: datetime, *, raw_days: int, zone: str) -> datetime:
    """The start of the local day `raw_days` before today: tickets closed before it are purged."""
    local = now.astimezone(ZoneInfo(zone))
    day = local.date() - timedelta(days=raw_days)
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))


def run_retention(app: UseCases, *, now: datetime, raw_days: int, zone: str) -> dict[str, int]:
    """`[retention] raw_days`: the daily purge of old closed tickets' raw mail and attachments."""
    before = retention_cutoff(now, raw_days=raw_days, zone=zone)

    def work(session: Session, at: datetime) -> dict[str, int]:
        if not try_job_lock(session, "retention"):
            return {}
        return purge(session, before=before, now=at)

    counts = app.run(work, now=now, mail=lambda _counts: ())
    logger.info("retention: purged %s", counts, extra={"action": "retention"})
    return counts
