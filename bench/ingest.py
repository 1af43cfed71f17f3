"""Ingestion benchmark: raw IMAP fetch vs stdlib parsing vs the full pipeline, in one run.

    python -m bench.ingest [-n 5000] [--db sqlite|postgresql] [--corpus realistic|minimal] [--rss 20000]

Appends N messages to a private Dovecot on 127.0.0.1: by default as real mail clients send them
(`tests.corpus`: trace headers, text + HTML, quoted replies, one in six with an attachment;
22 KB on average), or with `--corpus minimal` the smallest valid ones (`tests.mailgen`: one
text part, 0.6 KB). Then it measures on the same
bytes (a) raw imapclient fetch, (b) parse-only with the standard library (policy.default
plus the text body, single-threaded) and (c) the whole pipeline from IMAP to committed
tickets with acknowledgements queued. Prints messages/s, the ratios (c)/(b) and (c)/(a),
and the worker's peak RSS, its parsing process's apart (the pipeline runs in a child process; with --rss it also takes
a backlog of that size to show memory does not grow with the backlog).
"""

import argparse
import email
import email.policy
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from config.settings import DatabaseSettings, OutboundSettings, load_settings  # noqa: E402
from tests.corpus import realistic_backlog  # noqa: E402
from tests.integration.dovecot import Dovecot  # noqa: E402
from tests.mailgen import backlog  # noqa: E402


def fetch_raw(server: Dovecot) -> list[bytes]:
    with server.imap_client() as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        out: list[bytes] = []
        for start in range(0, len(uids), 500):
            data = client.fetch(uids[start : start + 500], ["BODY.PEEK[]"])
            out.extend(item[b"BODY[]"] for item in data.values())
    return out


def parse_only(raws: list[bytes]) -> None:
    for raw in raws:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        if body is not None:
            body.get_content()


def pipeline_child(port: int, user: str, password: str, url: str, out: str, batch: int, queue) -> None:  # type: ignore[no-untyped-def]
    """Runs in a fresh process: the worker's own pass over the backlog."""
    from tickets.clock import SystemClock
    from tickets.db import make_engine
    from tickets.migrate import upgrade
    from ventanilla.app import App
    from ventanilla.secret import generate_secret, with_secret
    from ventanilla.wiring import make_poller

    base, _ = load_settings(None)
    # From the loaded settings, so that VENTANILLA_INBOX__* (e.g. PARSE_PROCESSES) apply here too.
    inbox = base.inbox.model_copy(
        update={
            "kind": "imap",
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "username": user,
            "password": SecretStr(password),
            "batch_size": batch,
        }
    )
    settings = base.model_copy(
        update={
            "inbox": inbox,
            "database": DatabaseSettings(url=url),
            "outbound": OutboundSettings(kind="file", path=out),
        }
    )
    if not settings.helpdesk.secret.get_secret_value():  # no built-in secret: one for this run
        settings = with_secret(settings, generate_secret())
    engine = make_engine(url)
    upgrade(engine)
    poller = make_poller(App(settings, engine, SystemClock()))
    started = time.perf_counter()
    stats = poller.run_once()
    elapsed = time.perf_counter() - started
    poller.source.close()
    helpers = descendants_peak_rss_mb()
    poller.ingestor.close()
    rss = peak_rss_mb()
    queue.put((stats.processed, elapsed, rss, helpers))


def peak_rss_mb() -> float:
    """This process's peak RSS since exec (VmHWM). Not ru_maxrss: after fork + exec it keeps the
    peak of the forked copy of the parent, which holds the whole fetched backlog here."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def descendants_peak_rss_mb() -> float:
    """The largest peak RSS (VmHWM) among this process's descendants: the parsing processes."""
    parents: dict[int, int] = {}
    peaks: dict[int, float] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        pid = int(status.parent.name)
        parents[pid] = int(fields["PPid"])
        peaks[pid] = int(fields.get("VmHWM", "0 kB").split()[0]) / 1024
    ours, me = [], os.getpid()
    for pid in parents:
        walk = pid
        while walk in parents and walk != me:
            walk = parents[walk]
        if walk == me and pid != me:
            ours.append(peaks[pid])
    return max(ours, default=0.0)


def run_pipeline(server: Dovecot, url: str, tmp: Path, batch: int) -> tuple[int, float, float, float]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(
        target=pipeline_child, args=(server.port, server.user, server.password, url, str(tmp / "sent"), batch, queue)
    )
    child.start()
    result = queue.get(timeout=3600)
    child.join()
    return result


CORPORA = {"realistic": realistic_backlog, "minimal": backlog}


def fill(server: Dovecot, count: int, corpus: str) -> int:
    """A fresh INBOX of `count` messages of `corpus`; their mean size in bytes."""
    mails = CORPORA[corpus](count, reply_every=5)
    harness.fill(server, mails)
    return sum(len(m["raw"]) for m in mails) // max(len(mails), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="messages in the measured backlog")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="realistic")
    parser.add_argument("--batch", type=int, default=100, help="inbox.batch_size")
    parser.add_argument("--rss", type=int, default=0, help="also measure peak RSS with a backlog this large")
    args = parser.parse_args()
    server = Dovecot()
    server.start()
    urls: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            print(f"appending {args.n} {args.corpus} messages to Dovecot on 127.0.0.1:{server.port} ...", flush=True)
            mean = fill(server, args.n, args.corpus)
            print(f"mean size {mean / 1024:.1f} KB", flush=True)
            t = time.perf_counter()
            raws = fetch_raw(server)
            a = len(raws) / (time.perf_counter() - t)
            t = time.perf_counter()
            parse_only(raws)
            b = len(raws) / (time.perf_counter() - t)
            urls.append(harness.database_url(args.db, tmp))
            processed, elapsed, rss, parser_rss = run_pipeline(server, urls[-1], tmp, args.batch)
            c = processed / elapsed
            print(f"(a) raw imapclient fetch      {a:9.0f} msg/s")
            print(f"(b) stdlib parse + text body  {b:9.0f} msg/s")
            print(f"(c) full pipeline ({args.db:10s}) {c:9.0f} msg/s   ({processed} messages in {elapsed:.1f} s)")
            agents = load_settings(None)[0].helpdesk.agents  # as the measured worker loads them
            print(
                "    queued: an acknowledgement per new ticket"
                + (f", and a notice to each of {len(agents)} agents per user message" if agents else "")
                + " (VENTANILLA_HELPDESK__AGENTS='[]' for acknowledgements only)"
            )
            print(
                f"    (c)/(b) = {c / b:.2f}    (c)/(a) = {c / a:.3f}    "
                f"peak RSS {rss:.0f} MB (+ {parser_rss:.0f} MB the parsing process; the fork server is smaller)"
            )
            if args.rss:
                fill(server, args.rss, args.corpus)
                urls.append(harness.database_url(args.db, tmp))
                processed, elapsed, rss, parser_rss = run_pipeline(server, urls[-1], tmp, args.batch)
                print(
                    f"    backlog of {processed}: {processed / elapsed:.0f} msg/s, "
                    f"peak RSS {rss:.0f} MB (+ {parser_rss:.0f} MB the parsing process; the fork server is smaller)"
                )
    finally:
        server.destroy()
        harness.drop_schemas(urls)


if __name__ == "__main__":
    main()
