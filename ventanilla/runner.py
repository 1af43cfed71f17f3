"""Starts the worker's loops for `ventanilla run`."""

import asyncio
import logging
from functools import partial

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from mailer.transport import make_transport
from scheduler.wiring import make_scheduler
from ventanilla.app import App
from ventanilla.context import AppContext
from ventanilla.observe.facts import FactsReader
from ventanilla.observe.metrics import WorkerMetrics
from ventanilla.observe.serving import serving
from ventanilla.observe.transport import CountingTransport
from ventanilla.pipeline.outgoing import OutgoingQueue
from ventanilla.signals import ignore_hangup, reload_on_hangup, stop_on_signals
from ventanilla.wiring import make_drainer, make_poller
from ventanilla.worker import MailboxLoop, run_tasks

logger = logging.getLogger("ventanilla")


class BacklogProgress:
    """A progress bar shown while a backlog larger than one batch is taken in."""

    def __init__(self, batch_size: int) -> None:
        self._batch = batch_size
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if total <= self._batch:
            return
        if self._bar is None:
            self._bar = Progress(TextColumn("backlog"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            self._bar.start()
            self._task = self._bar.add_task("backlog", total=total)
        assert self._task is not None
        self._bar.update(self._task, completed=done, total=total)
        if done >= total:
            self._bar.stop()
            self._bar = None


def _reload_templates(outbox: OutgoingQueue) -> str:
    return "templates reloaded" if outbox.reload_templates() else "templates kept"


async def run_worker(app_ctx: AppContext, *, once: bool) -> int:
    """The worker until stopped (exit status 0), or one pass with `once`: 75 when mail it queued
    waits because the mail server could not be reached."""
    ignore_hangup()  # until the reload handler is in place: `systemctl reload` while starting is harmless
    engine, clock = app_ctx.engine, app_ctx.clock
    await asyncio.to_thread(app_ctx.prepare_database)  # what init does, secret included
    settings = app_ctx.settings_with_secret
    outbox = OutgoingQueue(settings)  # one renderer: the pipeline's, the jobs' and the sender's notices
    metrics = WorkerMetrics(FactsReader(settings, engine, clock))
    transport = CountingTransport(make_transport(settings.outbound), metrics.smtp_error)
    drainer = make_drainer(settings, engine, clock, outbox, transport)
    # Ingest commits in a worker thread; the drainer sends what it queued at once, not at its next poll.
    event_loop = asyncio.get_running_loop()

    def wake_drainer() -> None:
        event_loop.call_soon_threadsafe(drainer.wake)

    # The one App of the worker: the pipeline and the scheduler's jobs queue mail through it.
    app = App(settings, engine, clock, wake=wake_drainer, outbox=outbox)
    poller = make_poller(app, observe=metrics.batch_processed)
    loop = MailboxLoop(poller, engine, clock, settings, on_error=metrics.mailbox_error)
    scheduler = make_scheduler(settings, app, clock)
    progress = BacklogProgress(settings.inbox.batch_size)
    if once:
        # As in the service, mail goes out while more comes in: the drainer sends what each batch
        # queued (woken by the commit) until the pass and the sweep end, then drains what is left.
        intake_done = asyncio.Event()
        sending = asyncio.create_task(drainer.run(intake_done))
        try:
            await loop.run_once(progress)
            await scheduler.sweep_once()
        finally:
            intake_done.set()
            await sending
        last = await drainer.run_once()
        await asyncio.to_thread(loop.release)
        await asyncio.to_thread(loop.close_source)
        if last.deferred:  # said, and not exit 0: a cron job must not take "sent" for granted
            why = last.unreachable or "it did not answer earlier in this run"
            logger.warning("outbox: mail waits, the mail server is unreachable (%s); the next run sends it", why)
            return 75  # EX_TEMPFAIL
        return 0
    stop = asyncio.Event()
    logger.info(
        "worker started: mailbox %s (%s), outbound %s", settings.inbox.name, settings.inbox.kind, settings.outbound.kind
    )
    async with serving(settings, metrics):
        with stop_on_signals(stop), reload_on_hangup(partial(_reload_templates, outbox), app.faq.reload_in_thread):
            scheduler.start()
            tasks = [lambda s: loop.run(s, progress), drainer.run]
            if settings.web.listen:
                from ventanilla.web.server import serve_web

                tasks.append(lambda s: serve_web(app, s))  # the web form, in this event loop
            try:
                await run_tasks(tasks, stop)
            finally:
                scheduler.shutdown()
    logger.info("worker stopped")
    return 0
