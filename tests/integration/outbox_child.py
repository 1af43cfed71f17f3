"""A drainer in a process of its own, for tests that kill it in the middle of a send.

    python -m tests.integration.outbox_child DB_URL SMTP_PORT NOW

It drains the outbox once through the SMTP server on 127.0.0.1:SMTP_PORT, its clock standing at
NOW (ISO-8601), under its own holder name ("host:pid:start"), then exits.
"""

import asyncio
import sys
from datetime import datetime

from config.settings import HelpdeskSettings, OutboundSettings
from mailer.transport import SmtpTransport
from tests.conftest import TEST_SECRET
from tickets.clock import FakeClock
from tickets.db import make_engine
from ventanilla.pipeline.sender import OutboxDrainer


async def drain(db_url: str, port: int, now: datetime) -> None:
    settings = OutboundSettings(kind="smtp", host="127.0.0.1", port=port, security="none", timeout_seconds=60)
    engine, transport = make_engine(db_url), SmtpTransport(settings)
    sender = OutboxDrainer(
        engine, transport, FakeClock(now), helpdesk=HelpdeskSettings(secret=TEST_SECRET), outbound=settings
    )
    try:
        await sender.run_once()
    finally:
        await transport.close()
        engine.dispose()


if __name__ == "__main__":
    asyncio.run(drain(sys.argv[1], int(sys.argv[2]), datetime.fromisoformat(sys.argv[3])))
