"""Starting `/metrics` and `/healthz` for `ventanilla run` when `[metrics] listen` is set."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from config.metrics import split_listen
from config.settings import ConfigError, Settings
from ventanilla.observe.metrics import WorkerMetrics
from ventanilla.observe.server import StatusServer

logger = logging.getLogger("ventanilla")


@asynccontextmanager
async def serving(settings: Settings, metrics: WorkerMetrics) -> AsyncIterator[tuple[str, int] | None]:
    """The status server while the block runs (None when `listen` is empty); a port that cannot
    be bound stops the start-up with one line (ConfigError, exit 78)."""
    if not settings.metrics.listen or metrics.reader is None:
        yield None
        return
    host, port = split_listen(settings.metrics.listen)
    server = StatusServer(metrics.registry, metrics.reader.check)
    try:
        bound = await server.start(host, port)
    except OSError as exc:
        why = exc.strerror or exc
        raise ConfigError(f"metrics.listen: cannot listen on {settings.metrics.listen}: {why}") from None
    where = f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"
    logger.info("metrics on http://%s/metrics, health on http://%s/healthz", where, where,
                extra={"action": "metrics-listening"})
    try:
        yield bound
    finally:
        await server.close()
