"""APScheduler 3 wiring: an AsyncIOScheduler with an in-memory job store inside the worker.

A 3.x job store cannot be shared by processes, so every worker has its own scheduler and
every job is idempotent (advisory lock on PostgreSQL, UNIQUE alert and outbox keys).
"""

import asyncio
import logging
from functools import partial

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config.settings import Settings
from scheduler.jobs import (
    MonthlyReportHook,
    mail_monthly_report,
    run_daily_digest,
    run_monthly_report,
    run_retention,
    run_sla_sweep,
)
from tickets.clock import Clock
from tickets.errors import DatabaseUnavailableError
from tickets.sla.sweep import SweepPolicy, SweepResult
from tickets.work import UseCases

logger = logging.getLogger(__name__)


class SlaScheduler:
    """The worker's recurring jobs: SLA sweep, daily digest, monthly report hook."""

    def __init__(
        self,
        settings: Settings,
        app: UseCases,
        clock: Clock,
        *,
        monthly_report: MonthlyReportHook | None = None,
    ) -> None:
        self._settings = settings
        self._app = app
        self._clock = clock
        self._monthly_report = monthly_report or partial(mail_monthly_report, settings=settings)
        self.policy = SweepPolicy.from_settings(settings)
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": AsyncIOExecutor()},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": settings.scheduler.misfire_grace_seconds,
            },
            timezone=settings.calendar.timezone,
        )
        self._add_jobs()

    def _add_jobs(self) -> None:
        config = self._settings.scheduler
        hour, minute = (int(p) for p in config.digest_time.split(":"))
        m_hour, m_minute = (int(p) for p in config.monthly_report_time.split(":"))
        zone = self._settings.calendar.timezone
        # A one-off job without a trigger runs at start-up: the catch-up sweep after downtime.
        self.scheduler.add_job(self.sweep_once, id="sla-catch-up")
        self.scheduler.add_job(self.sweep_once, IntervalTrigger(seconds=config.sweep_seconds), id="sla-sweep")
        self.scheduler.add_job(
            self.digest_once, CronTrigger(day_of_week=config.digest_days, hour=hour, minute=minute, timezone=zone),
            id="sla-digest",
        )
        self.scheduler.add_job(
            self.monthly_once,
            CronTrigger(day=config.monthly_report_day, hour=m_hour, minute=m_minute, timezone=zone),
            id="monthly-report",
        )
        if self._settings.retention.raw_days:  # daily, at a quiet hour of the service's zone
            self.scheduler.add_job(self.retention_once, CronTrigger(hour=3, minute=30, timezone=zone), id="retention")

    async def sweep_once(self) -> SweepResult | None:
        """One sweep at the injected clock's now, off the event loop; errors are logged, not raised."""
        now = self._clock.now()
        try:
            return await asyncio.to_thread(run_sla_sweep, self._app, now=now, policy=self.policy)
        except DatabaseUnavailableError as exc:
            logger.warning("sla sweep skipped: database unavailable: %s", exc, extra={"action": "sla-sweep"})
        except Exception:
            logger.exception("sla sweep failed", extra={"action": "sla-sweep"})
        return None

    async def digest_once(self) -> None:
        now = self._clock.now()
        try:
            await asyncio.to_thread(run_daily_digest, self._app, now=now, policy=self.policy)
        except Exception:
            logger.exception("daily digest failed", extra={"action": "digest"})

    async def monthly_once(self) -> None:
        now = self._clock.now()
        try:
            await asyncio.to_thread(run_monthly_report, self._app, now=now, hook=self._monthly_report)
        except Exception:
            logger.exception("monthly report failed", extra={"action": "monthly"})

    async def retention_once(self) -> dict[str, int] | None:
        """The daily purge of `[retention] raw_days`; errors are logged, not raised."""
        now, settings = self._clock.now(), self._settings
        try:
            return await asyncio.to_thread(
                run_retention, self._app, now=now, raw_days=settings.retention.raw_days, zone=settings.calendar.timezone
            )
        except Exception:
            logger.exception("retention purge failed", extra={"action": "retention"})
        return None

    def start(self) -> None:
        """Start the jobs; call from inside the running event loop."""
        if self._settings.scheduler.enabled:
            self.scheduler.start()
            logger.info("scheduler started: sla sweep every %ss", self._settings.scheduler.sweep_seconds)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)


def make_scheduler(
    settings: Settings, app: UseCases, clock: Clock, *, monthly_report: MonthlyReportHook | None = None
) -> SlaScheduler:
    """The worker's scheduler; its jobs run through `app` (ventanilla.app.App)."""
    return SlaScheduler(settings, app, clock, monthly_report=monthly_report)
