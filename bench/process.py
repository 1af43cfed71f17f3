"""Whole-process throughput: `ventanilla run --once` on a realistic backlog, acknowledgements
over SMTP, against the raw fetch + parse of the same bytes, in one run.

    python -m bench.process [-n 1000] [--db postgresql|sqlite] [--statements 200]

A private Dovecot (127.0.0.1) holds N messages as real mail clients send them (`tests.corpus`);
the helpdesk has two agents (each user message notifies them) and sends through a local aiosmtpd
sink. Measured on the same bytes:

  (a) the peer: one imapclient connection fetching everything + the standard library parsing
      each message and its text body (no product code);
  (b) the product: `ventanilla run --once` as a fresh process, from exec to exit (start-up,
      schema check, fork server, intake, tickets, SLA sweep, every mail sent to the sink);
  (c) the same command on an empty mailbox: what start-up and shutdown alone cost;
  (d) the peer's sending: the very mails (b) sent, resent by one bare aiosmtplib connection to the
      same sink (no product code), so (a) + (d) is the peer of the whole run.

Then where the time goes: the imports (`python -X importtime`), and SQL statements per new
ticket (a SQLAlchemy listener on a pass over --statements messages, in this process).
"""

import argparse
import asyncio
import email
import email.policy
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.harness import config, database_url, drop_schemas, fill, init  # noqa: E402
from tests.corpus import realistic_backlog  # noqa: E402
from tests.e2e.conftest import clean_env  # noqa: E402
from tests.integration.dovecot import Dovecot  # noqa: E402
from tests.integration.smtp_sink import SmtpSink, unused_port  # noqa: E402

AGENTS = ["ana@ventanilla.example", "luis@ventanilla.example"]


def peer(server: Dovecot) -> tuple[int, float]:
    """(messages, seconds): raw fetch of the whole INBOX and a stdlib parse of each."""
    started = time.perf_counter()
    with server.imap_client() as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        count = 0
        for start in range(0, len(uids), 100):
            for item in client.fetch(uids[start : start + 100], ["BODY.PEEK[]", "INTERNALDATE"]).values():
                msg = email.message_from_bytes(item[b"BODY[]"], policy=email.policy.default)
                body = msg.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
                if body is not None:
                    body.get_content()
                count += 1
    return count, time.perf_counter() - started


def peer_send(port: int, mails: list[tuple[str, tuple[str, ...], bytes]]) -> float:
    """Seconds to send these (envelope sender, recipients, bytes) over one aiosmtplib connection."""
    import aiosmtplib

    async def send_all() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await smtp.connect()
        for sender, recipients, raw in mails:
            await smtp.sendmail(sender, list(recipients), raw)
        await smtp.quit()

    started = time.perf_counter()
    asyncio.run(send_all())
    return time.perf_counter() - started


def run_once(cfg: Path, cwd: Path) -> float:
    """Seconds of `ventanilla run --once`, exec to exit."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ventanilla", "--config", str(cfg), "run", "--once"],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"run --once failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
    return elapsed


def import_times(top: int = 8) -> tuple[float, list[tuple[str, float]]]:
    """(total ms, the heaviest packages by their own import time in ms) of `ventanilla run`'s imports."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ventanilla.cli, ventanilla.runner"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    totals: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)", line)
        if match:
            totals[match.group(2).split(".")[0]] += int(match.group(1)) / 1000
    return sum(totals.values()), totals.most_common(top)


def count_statements(
    server: Dovecot, mails: list[dict], url: str, sink_port: int, tmp: Path
) -> tuple[int, Counter[str]]:
    """(new tickets, statements by kind) of one intake pass over `mails`, in this process."""
    from tickets.clock import SystemClock
    from tickets.db import make_engine
    from tickets.migrate import upgrade
    from ventanilla.app import App
    from ventanilla.wiring import make_poller

    fill(server, mails)
    cfg = config(tmp, server, url, sink_port, parse_processes=0)
    _add_section(cfg, "helpdesk", {"agents": AGENTS})
    settings = _settings(cfg)
    engine = make_engine(url)
    upgrade(engine)
    kinds: Counter[str] = Counter()

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        words = statement.split()
        table = next((w for w in words[1:8] if w.isidentifier() and w.upper() not in _SQL_WORDS), "")
        kinds[f"{words[0].upper()} {table}".strip()] += 1

    poller = make_poller(App(settings, engine, SystemClock()))
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        stats = poller.run_once()
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        poller.source.close()
        poller.ingestor.close()
        engine.dispose()
    return stats.actions.get("ticketed", 0), kinds


_SQL_WORDS = {"INTO", "FROM", "DISTINCT", "SELECT", "UPDATE", "SET", "AS", "ON", "OR", "AND", "WHERE", "COUNT"}


def _settings(cfg: Path):  # type: ignore[no-untyped-def]
    from config.settings import load_settings
    from ventanilla.secret import generate_secret, with_secret

    settings, _ = load_settings(str(cfg))
    return with_secret(settings, generate_secret()) if not settings.helpdesk.secret.get_secret_value() else settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000, help="messages in the backlog")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--statements", type=int, default=200, help="messages of the statement count")
    parser.add_argument("--connections", default="1,2", help="[outbound] connections of each product run (b), e.g. 1,2")
    args = parser.parse_args()
    lanes = [int(c) for c in args.connections.split(",")]
    mails = realistic_backlog(args.n, reply_every=5)
    server = Dovecot()
    server.start()
    sink = SmtpSink(unused_port()).start()
    urls: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            helpdesk = {"agents": AGENTS}
            fill(server, mails)
            count, peer_seconds = peer(server)
            wholes: dict[int, float] = {}
            for connections in lanes:
                if wholes:
                    fill(server, mails)  # the same backlog again, into a fresh database
                urls.append(database_url(args.db, tmp))
                cfg = config(tmp, server, urls[-1], sink.port, batch_size=100, connections=connections)
                _add_section(cfg, "helpdesk", helpdesk)
                init(cfg, tmp)
                wholes[connections] = run_once(cfg, tmp)
                sent = len(sink.received)
                resent = [(m.mail_from, m.rcpt_tos, m.raw) for m in sink.received]
                sink.received.clear()
            send_seconds = peer_send(sink.port, resent)
            server.reset()  # an empty mailbox: start-up and shutdown alone
            urls.append(database_url(args.db, tmp))
            empty_cfg = config(tmp, server, urls[-1], sink.port)
            init(empty_cfg, tmp)
            empty = run_once(empty_cfg, tmp)
            urls.append(database_url(args.db, tmp))
            tickets, kinds = count_statements(server, mails[: args.statements], urls[-1], sink.port, tmp)
        _report(args, count, peer_seconds, wholes, empty, (sent, send_seconds), tickets, kinds)
    finally:
        sink.stop()
        server.destroy()
        drop_schemas(urls)


def _add_section(cfg: Path, section: str, values: dict[str, list[str]]) -> None:
    lines = [f"[{section}]"] + [
        f"{k} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in vs)}]" for k, vs in values.items()
    ]
    cfg.write_text(cfg.read_text() + "\n" + "\n".join(lines) + "\n")


def _report(args, count, peer_seconds, wholes, empty, sending, tickets, kinds) -> None:  # type: ignore[no-untyped-def]
    sent, send_seconds = sending
    peer_rate = count / peer_seconds
    both = args.n / (peer_seconds + send_seconds)
    print(
        f"{args.n} realistic messages, {args.db}, two agents, {os.cpu_count()} cores (a shared machine: compare ratios)"
    )
    print(f"(a) peer: raw fetch + stdlib parse      {peer_rate:7.0f} msg/s  ({peer_seconds:.2f} s)")
    print(f"(d) peer: the same {sent} mails, bare aiosmtplib {sent / send_seconds:5.0f} mail/s ({send_seconds:.2f} s)")
    print(f"    peer of the whole run (a) + (d)      {both:7.0f} msg/s  ({peer_seconds + send_seconds:.2f} s)")
    for connections, whole in wholes.items():
        rate = args.n / whole
        print(f"(b) run --once, {connections} SMTP connection(s)     {rate:7.0f} msg/s  ({whole:.2f} s, {sent} mails)")
        print(f"    without start-up (b - c)             {args.n / max(whole - empty, 1e-9):7.0f} msg/s")
        print(f"    (b)/(a) = {rate / peer_rate:.2f}    (b)/((a)+(d)) = {rate / both:.2f}    target (b) >= 600 msg/s")
    print(f"(c) run --once on an empty mailbox       {empty:7.2f} s  (start-up, schema check, fork server, exit)")
    total_ms, heaviest = import_times()
    print(f"imports: {total_ms:.0f} ms; heaviest (ms): " + ", ".join(f"{m} {t:.0f}" for m, t in heaviest))
    total = sum(kinds.values())
    if tickets:
        print(f"SQL statements per new ticket: {total / tickets:.1f} ({total} for {tickets} new tickets", end="")
        print(f" of {args.statements} messages)")
        for kind, n in kinds.most_common(12):
            print(f"    {n / tickets:5.2f}  {kind}")


if __name__ == "__main__":
    main()
