"""Routing's cost on ingest: new tickets with no groups (baseline), groups, and round-robin.

    python -m bench.routing [-n 2000] [--db sqlite|postgresql] [--repeat 3]

Each configuration ingests the same N new-ticket messages through
`tickets.ingest.service.ingest` (100 per transaction, as a worker's batch) into a fresh database,
and the notifications are decided (not rendered). Prints tickets/s and the ratio to the baseline
measured in the same run (the configurations interleaved, the best of each kept); with
round-robin, also how evenly the tickets were shared out.
"""

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlmodel import select  # noqa: E402

from bench.month import _ingest_policy  # noqa: E402
from config.agents import AgentGroup, AgentSettings  # noqa: E402
from config.settings import load_settings  # noqa: E402
from tests.dbhelpers import pg_schema  # noqa: E402
from tickets.agents.mail import agent_policy  # noqa: E402
from tickets.db import make_engine, read_only, unit_of_work  # noqa: E402
from tickets.ingest import service  # noqa: E402
from tickets.migrate import upgrade  # noqa: E402
from tickets.models import Ticket  # noqa: E402
from tickets.values import Address, IncomingMessage, ReceiptKey  # noqa: E402
from ventanilla.secret import generate_secret, with_secret  # noqa: E402

T0 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
AGENTS = [f"agent{i}@ventanilla.example" for i in range(12)]  # "a dozen agents"
SUBJECTS = ("Renovar certificado", "Exportar certificado", "Revocar certificado", "Consulta sobre mi cita")
GROUPS = [
    AgentGroup(name="certificados", members=AGENTS[:8], categories=["renewal", "export-import", "obtaining"]),
    AgentGroup(name="revocaciones", members=AGENTS[8:], categories=["revocation"]),
]
CONFIGS = {
    "no groups": AgentSettings(),
    "groups": AgentSettings(groups=GROUPS),
    "round-robin": AgentSettings(groups=GROUPS, assign="round-robin"),
}


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
    else:
        with pg_schema("bench_routing") as url:
            yield url


def message(index: int) -> IncomingMessage:
    return IncomingMessage(
        message_id=f"<r{index}@correo.example>",
        sender=Address(name=f"Usuario {index}", email=f"user{index}@correo.example"),
        to=(Address(name="", email="soporte@ventanilla.example"),),
        subject=f"{SUBJECTS[index % len(SUBJECTS)]} ({index})",
        text="Hola,\nnecesito ayuda con mi certificado.\nGracias",
        raw_sha256=f"{index:064x}",
    )


def run(kind: str, count: int, agents: AgentSettings) -> tuple[float, Counter[str]]:
    """Tickets per second for `count` new tickets, and how many each agent was assigned."""
    settings = with_secret(load_settings(None)[0], generate_secret())
    helpdesk = settings.helpdesk.model_copy(update={"agents": AGENTS})
    policy = _ingest_policy(settings)
    policy = replace(policy, agents=agent_policy(helpdesk, agents, sla=policy.sla))
    with database(kind) as url:
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        for first in range(0, count, 100):
            with unit_of_work(engine) as session:
                for i in range(first, min(first + 100, count)):
                    at = T0 + timedelta(seconds=i)
                    key = ReceiptKey(mailbox="bench", uidvalidity=1, uid=i + 1)
                    service.ingest(session, key=key, raw=b"x", msg=message(i), arrived_at=at, now=at, policy=policy)
        elapsed = time.perf_counter() - started
        with read_only(engine) as session:
            given = Counter(a for a in session.exec(select(Ticket.assigned_agent)) if a)
        engine.dispose()
    return count / elapsed, given


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="new tickets per configuration")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (configurations interleaved); best kept")
    args = parser.parse_args()
    best: dict[str, float] = {}
    given: dict[str, Counter[str]] = {}
    for _ in range(args.repeat):  # interleaved, so a busy machine slows every configuration alike
        for name, agents in CONFIGS.items():
            rate, given[name] = run(args.db, args.n, agents)
            best[name] = max(best.get(name, 0.0), rate)
    print(f"{args.n} new tickets per configuration, {len(AGENTS)} agents, {args.db}, best of {args.repeat}")
    baseline = best["no groups"]
    for name, rate in best.items():
        shares = given[name].values()
        spread = f"; assigned per agent: min {min(shares)}, max {max(shares)}" if shares else ""
        print(f"{name:12} {rate:8.0f} tickets/s  ({rate / baseline:.2f} x baseline){spread}")


if __name__ == "__main__":
    main()
