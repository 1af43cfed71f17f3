"""Several workers: messages per second for 1, 2, 3 ... `ventanilla run` processes on PostgreSQL.

    python -m bench.workers [--workers 1,2,3] [-n 20000] [--profile]

For each worker count, in one run: a private Dovecot (127.0.0.1) user whose INBOX holds a
backlog of N small messages (`tests.mailgen`, one in five a reply; APPENDed before the clock
starts), a fresh PostgreSQL schema (`ventanilla init` done), outbound mail written as files; then
K `ventanilla run` processes are started together and the clock runs until every message has
been processed (a receipt for each, none waiting). Prints messages per second for each count
(after start-up: from the first receipt committed),
the ratio to one worker, the CPU seconds the worker processes used (not their parsing
processes, nor PostgreSQL's or Dovecot's) and the machine's core count.
`--profile` samples every worker with py-spy (when installed) and says where their time went.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.harness import config, database_url, drop_schemas, fill, init, ventanilla  # noqa: E402
from tests.integration.dovecot import Dovecot  # noqa: E402
from tests.mailgen import backlog  # noqa: E402
from tickets.db import make_engine, read_only  # noqa: E402
from tickets.ingest.spool import PENDING  # noqa: E402
from tickets.models import Receipt  # noqa: E402

# Where a sampled stack spends its time: the first of these found from the innermost frame out.
BUCKETS = [
    ("psycopg", "PostgreSQL driver (psycopg)"),
    ("sqlalchemy", "SQLAlchemy"),
    ("imapclient", "IMAP (imapclient)"),
    ("imaplib", "IMAP (imaplib)"),
    ("jinja2", "templates (jinja2)"),
    ("aiosmtplib", "SMTP (aiosmtplib)"),
    ("/email/", "MIME parsing (email)"),
    ("mailer/", "mailer (parse, compose)"),
    ("tickets/", "tickets (decisions)"),
    ("ventanilla/", "ventanilla (pipeline)"),
    ("asyncio", "event loop, threads"),
    ("threading", "event loop, threads"),
    ("concurrent", "event loop, threads"),
    ("multiprocessing", "parsing process (IPC)"),
]


def progress(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(receipts spooled, receipts processed)."""
    with read_only(engine) as session:
        receipts = session.scalar(select(func.count()).select_from(Receipt)) or 0
        waiting = session.scalar(select(func.count()).where(Receipt.status.in_([s.value for s in PENDING]))) or 0
    return receipts, receipts - waiting


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process and its reaped children (the parsing processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(v) for v in fields[11:15]) / ticks


def one_count(server: Dovecot, mails: list[dict], workers: int, tmp: Path, urls: list[str], profile: bool) -> dict:
    fill(server, mails, per_append=500)
    urls.append(database_url("postgresql", tmp))
    cfg = config(tmp, server, urls[-1], 25, batch_size=100, poll_seconds=1.0)
    cfg.write_text(cfg.read_text().replace('kind = "smtp"', 'kind = "file"') + f'path = "{tmp / "sent"}"\n')
    init(cfg, tmp)
    engine = make_engine(urls[-1])
    started = time.perf_counter()
    procs = [ventanilla(cfg, "run", cwd=tmp) for _ in range(workers)]
    spies = [_spy(p.pid, tmp / f"profile-{workers}-{i}.txt") for i, p in enumerate(procs)] if profile else []
    try:
        first = None  # when the first receipt was committed: start-up is over
        while (state := progress(engine))[1] < len(mails):
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a worker exited early; see {tmp}")
            if first is None and state[0]:
                first = time.perf_counter()
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        startup = (first or started) - started
        cpu = sum(cpu_seconds(p.pid) for p in procs)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
        for spy in spies:
            spy.wait(timeout=60)
        engine.dispose()
    profiles = [tmp / f"profile-{workers}-{i}.txt" for i in range(len(spies))]
    return {"elapsed": elapsed, "startup": startup, "cpu": cpu, "buckets": _buckets(profiles)}


def _spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--subprocesses", "--rate", "50", "--format", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _buckets(files: list[Path]) -> Counter[str]:
    """Samples by bucket (innermost matching frame) over py-spy's collapsed stacks."""
    found: Counter[str] = Counter()
    for file in files:
        if not file.exists():
            continue
        for line in file.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            frames = stack.split(";")
            label = next(
                (name for frame in reversed(frames) for key, name in BUCKETS if key in frame),
                "other (interpreter, stdlib)",
            )
            found[label] += int(count)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,2,3", help="worker counts, comma separated")
    parser.add_argument("-n", type=int, default=20000, help="messages in the backlog")
    parser.add_argument("--profile", action="store_true", help="sample the workers with py-spy")
    args = parser.parse_args()
    counts = [int(c) for c in args.workers.split(",")]
    profile = args.profile and shutil.which("py-spy") is not None
    if args.profile and not profile:
        print("py-spy is not installed: no profile (pip install py-spy)")
    mails = backlog(args.n, reply_every=5)
    server = Dovecot()
    server.start()
    urls: list[str] = []
    results = {}
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            for workers in counts:
                print(f"{workers} worker(s) on a backlog of {args.n} ...", flush=True)
                results[workers] = one_count(server, mails, workers, Path(tmpdir), urls, profile)
    finally:
        server.destroy()
        drop_schemas(urls)
    _report(args.n, results)


def _report(n: int, results: dict[int, dict]) -> None:
    cores = os.cpu_count()
    print(f"\n{n} messages from a Dovecot backlog, PostgreSQL, {cores} cores (shared: compare ratios)")
    base = n / (results[min(results)]["elapsed"] - results[min(results)]["startup"])
    for workers, r in results.items():
        busy = r["elapsed"] - r["startup"]
        rate = n / busy
        print(
            f"  {workers} worker(s): {rate:6.0f} msg/s  x{rate / base:4.2f}  ({busy:.1f} s after {r['startup']:.1f} s "
            f"of start-up; workers' CPU {r['cpu']:.1f} s = {r['cpu'] / r['elapsed']:.2f} cores)"
        )
    for workers, r in results.items():
        total = sum(r["buckets"].values())
        if total:
            parts = ", ".join(f"{name} {100 * k / total:.0f}%" for name, k in r["buckets"].most_common(7))
            print(f"  where {workers} worker(s) spent their samples: {parts}")


if __name__ == "__main__":
    main()
