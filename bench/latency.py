"""Latency benchmark: a new mail APPENDed to an IDLEd Dovecot mailbox until its acknowledgement
reaches the SMTP sink, one mail at a time.

    python -m bench.latency [-n 50] [--db postgresql|sqlite] [--gap 0.2]

One `ventanilla run` worker (a real process) IDLEs on a private Dovecot (127.0.0.1) and sends
through a local aiosmtpd sink; after a few unmeasured mails, each of N new mails is APPENDed
(the clock starts just before the APPEND) and the benchmark waits until the sink holds the
acknowledgement that answers it (In-Reply-To), then `--gap` seconds before the next one.
Prints p50, p90, p99 and the worst, in milliseconds. Target: p50 < 100 ms, p99 < 300 ms.
"""

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import config, database_url, drop_schemas, init, ventanilla  # noqa: E402
from tests.integration.dovecot import Dovecot  # noqa: E402
from tests.integration.smtp_sink import SmtpSink, unused_port  # noqa: E402
from tests.mailgen import message  # noqa: E402

WARMUP = 3


def _answered(sink: SmtpSink, seen: int, message_id: str) -> bool:
    for received in sink.received[seen:]:
        if str(message_from_bytes(received.raw, policy=policy.default)["In-Reply-To"] or "").strip() == message_id:
            return True
    return False


def one_mail(client, sink: SmtpSink, index: int, timeout: float = 30.0) -> float:  # type: ignore[no-untyped-def]
    """Seconds from APPEND to the acknowledgement in the sink."""
    sender, subject = f"lat{index}@latency.example", f"Latency {index}"
    mid, raw = message(index=index, sender=sender, subject=subject, body="Hola.", when=datetime.now(UTC))
    seen = len(sink.received)
    started = time.perf_counter()
    client.append("INBOX", raw)
    while not _answered(sink, seen, mid):
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"mail {index}: no acknowledgement within {timeout:.0f} s")
        time.sleep(0.001)
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure(
    server: Dovecot, sink: SmtpSink, tmp: Path, url: str, args: argparse.Namespace, **inbox: float
) -> list[float]:
    """Milliseconds of each measured mail, through a worker of its own on a mailbox of its own."""
    server.reset()
    cfg = config(tmp, server, url, sink.port, **inbox)
    init(cfg, tmp)
    worker = ventanilla(cfg, "run", cwd=tmp)
    try:
        with server.imap_client() as client:
            for i in range(WARMUP):
                one_mail(client, sink, 100_000 + i, timeout=60)
                time.sleep(args.gap)
            times = []
            for i in range(args.n):
                times.append(one_mail(client, sink, i) * 1000)
                time.sleep(args.gap)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return times


def summary(ms: list[float]) -> str:
    return (
        f"p50 {percentile(ms, 0.5):4.0f} ms  p90 {percentile(ms, 0.9):4.0f} ms  "
        f"p99 {percentile(ms, 0.99):4.0f} ms  worst {max(ms):4.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=50, help="measured mails, one at a time")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between an ack and the next mail")
    parser.add_argument("--check", type=float, default=0.05, help="inbox.check_seconds of the second run")
    args = parser.parse_args()
    server = Dovecot()
    server.start()
    sink = SmtpSink(unused_port()).start()
    urls: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            results = {}
            for label, inbox in (
                ("IDLE alone", {}),
                (f"IDLE + NOOP every {args.check:g} s", {"check_seconds": args.check}),
            ):
                urls.append(database_url(args.db, tmp))
                results[label] = measure(server, sink, tmp, urls[-1], args, **inbox)
        print(f"{args.n} mails one at a time, {args.db}, {os.cpu_count()} cores: APPEND -> ack in the sink")
        for label, ms in results.items():
            print(f"  {label:28s} {summary(ms)}")
        print("target: p50 < 100 ms, p99 < 300 ms")
    finally:
        sink.stop()
        server.destroy()
        drop_schemas(urls)


if __name__ == "__main__":
    main()
