"""`ventanilla demo`: the whole pipeline on realistic mail, with no server at all."""

import asyncio
import email
import email.policy
import logging
import shutil
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from config.settings import DEFAULT_TOML, Settings, load_settings
from mailer.maildir import deliver_to_maildir
from tickets import repository as repo
from tickets.clock import SystemClock
from tickets.db import make_engine, read_only
from tickets.migrate import upgrade
from tickets.models import Ticket
from ventanilla import demo_story
from ventanilla.app import App
from ventanilla.demo_mail import first_wave, second_wave
from ventanilla.demo_web import run_web_demo
from ventanilla.secret import generate_secret
from ventanilla.ticket_view import tickets_table
from ventanilla.wiring import make_drainer, make_poller

MARKER = ".ventanilla-demo"
DEMO_FAQ = DEFAULT_TOML.parent / "faq-demo"
# Revocations go to Luis alone; the other categories have no group, so every agent hears of them.
DEMO_GROUP = """
[[agents.groups]]
name = "revocaciones"
members = ["luis@ventanilla.example"]
categories = ["revocation"]
"""
console = Console()


def write_demo_config(directory: Path) -> Path:
    """The embedded default, pointed at the demo folder, so the user can go on with it."""
    text = DEFAULT_TOML.read_text(encoding="utf-8")
    text = text.replace('url = "sqlite:///var/ventanilla.db"', f'url = "sqlite:///{directory / "ventanilla.db"}"')
    text = text.replace('path = "var/maildir"', f'path = "{directory / "maildir"}"')
    text = text.replace('path = "var/outbox"', f'path = "{directory / "outbox"}"')
    # The demo's own secret, new for every run (a fixed one would be public).
    text = text.replace("[helpdesk]\n", f'[helpdesk]\nsecret = "{generate_secret()}"\n', 1)
    # A small FAQ shipped for the demo: acknowledgements suggest its answers.
    text += f'\n[faq]\npath = "{DEMO_FAQ}"\n'
    text += DEMO_GROUP
    path = directory / "ventanilla.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _fresh(directory: Path) -> None:
    if directory.exists():
        if not (directory / MARKER).exists():
            raise SystemExit(f"{directory} exists and is not a demo folder; choose another with --dir")
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("made by `ventanilla demo`; safe to delete\n")


def run_demo(directory: Path) -> None:
    directory = directory.resolve()
    logging.getLogger().setLevel(logging.WARNING)  # the demo shows its own summary
    _fresh(directory)
    config = write_demo_config(directory)
    settings, _ = load_settings(config)
    clock = SystemClock()
    engine = make_engine(settings.database.url)
    upgrade(engine)
    start = clock.now() - timedelta(hours=3)
    console.rule("[bold]Ventanilla demo[/bold]")
    _deliver_and_run(settings, engine, clock, first_wave(start), "8 messages arrive at the support mailbox")
    _routing(engine)
    _deliver_and_run(
        settings,
        engine,
        clock,
        second_wave(start + timedelta(hours=2)),
        "a reply in a thread, and a stranger quoting [#1]",
    )
    _agent_round_trip(settings, engine, clock, start)
    _phone(settings, engine, clock, start)
    run_web_demo(settings, engine, clock, config, console)
    asyncio.run(make_drainer(settings, engine, clock).run_once())  # Lucía's acknowledgement
    _show(settings, engine, directory, config)
    _sla(settings, engine, clock, start)
    _report(settings, engine, clock)


def _agent_round_trip(settings: Settings, engine, clock, start) -> None:  # type: ignore[no-untyped-def]
    """Ana answers #1 from her mail client with #pending; María writes back."""
    ticket = 1
    with read_only(engine) as session:
        requester = session.get(Ticket, ticket).requester_email  # type: ignore[union-attr]
    answer = demo_story.agent_answers(engine, settings, ticket, start + timedelta(hours=2, minutes=30))
    if answer is not None:
        _deliver_and_run(
            settings,
            engine,
            clock,
            [(start + timedelta(hours=2, minutes=30), answer)],
            "agent Ana replies to her notification with #pending",
        )
    reply = demo_story.user_replies(engine, ticket, requester, start + timedelta(hours=2, minutes=50))
    if reply is not None:
        _deliver_and_run(
            settings,
            engine,
            clock,
            [(start + timedelta(hours=2, minutes=50), reply)],
            "María answers Ana's email: the ticket opens again, a new clock starts",
        )


def _routing(engine) -> None:  # type: ignore[no-untyped-def]
    """Who was told of each new ticket: the revocation went to its group only."""
    table = Table(title="Who was told of each new ticket (groups route by category)")
    for column in ("#", "category", "agents notified"):
        table.add_column(column, overflow="fold")
    for number, category, agents in demo_story.notified_agents(engine):
        table.add_row(str(number), category, escape(", ".join(agents)))
    console.print(table)


def _phone(settings: Settings, engine, clock, start) -> None:  # type: ignore[no-untyped-def]
    """Antonio (#4) calls; Luis helps him and the call becomes a written follow-up."""
    with read_only(engine) as session:
        requester = session.get(Ticket, 4).requester_email  # type: ignore[union-attr]
    demo_story.phone_follow_up(App(settings, engine, clock), 4, requester, start + timedelta(hours=2, minutes=40))
    sent = asyncio.run(make_drainer(settings, engine, clock).run_once())
    console.print(f"[bold]a phone call on #4 becomes an email to the user[/bold]: {sent.sent} sent")


def _report(settings: Settings, engine, clock) -> None:  # type: ignore[no-untyped-def]
    month = clock.now().astimezone(ZoneInfo(settings.calendar.timezone)).strftime("%Y-%m")
    text = demo_story.monthly_report_text(engine, settings, month, settings.helpdesk.language)
    console.print(Panel(Text(text), title=f"Monthly report {month} (ventanilla report --month {month})"))


def _sla(settings: Settings, engine, clock, start) -> None:  # type: ignore[no-untyped-def]
    """Sweeps at +21 h, +25 h, +45 h and +49 h: warnings, breaches, automatic escalation."""
    table = Table(title="SLA sweeps after the first message arrived")
    for column in ("sweep at", "alerts (ticket: threshold)", "escalated"):
        table.add_column(column, overflow="fold")
    for hours, alerts in demo_story.sla_sweeps(App(settings, engine, clock), start, (21, 25, 45, 49)):
        fired = ", ".join(f"#{a.ticket_id}: {a.threshold.key}" for a in alerts) or "-"
        escalated = ", ".join(f"#{a.ticket_id}" for a in alerts if a.threshold.key == "breach-48h") or "-"
        table.add_row(f"+{hours} h", fired, escalated)
    console.print(table)
    with read_only(engine) as session:
        tickets = repo.list_tickets(session)
    zone = ZoneInfo(settings.calendar.timezone)
    console.print(tickets_table(tickets, zone, clock.now(), console.width, title="Tickets after the sweeps"))
    console.print("Alert mail to supervisors is in the outbox folder, one email per sweep (grouped).")


def _deliver_and_run(settings: Settings, engine, clock, mails, title: str) -> None:  # type: ignore[no-untyped-def]
    for when, raw in mails:
        deliver_to_maildir(settings.inbox.path, raw, when)
    poller = make_poller(App(settings, engine, clock))
    try:
        stats = poller.run_once()
    finally:
        poller.ingestor.close()
    sent = asyncio.run(make_drainer(settings, engine, clock).run_once())
    console.print(
        f"[bold]{escape(title)}[/bold]: {stats.processed} processed {dict(stats.actions)}; "
        f"{sent.sent} sent, {sent.failed} failed"
    )


def _show(settings: Settings, engine, directory: Path, config: Path) -> None:  # type: ignore[no-untyped-def]
    with read_only(engine) as session:
        tickets = repo.list_tickets(session)
        counts = repo.count_receipts(session)
        thread = repo.ticket_messages(session, 1)
        events = repo.ticket_events(session, 1)
    zone, now = ZoneInfo(settings.calendar.timezone), SystemClock().now()
    console.print(tickets_table(tickets, zone, now, console.width, title="Tickets in the demo database"))
    console.print(f"Received mail by outcome: {counts}")
    table = Table(title="Ticket #1, the whole thread")
    for column in ("when (UTC)", "direction", "kind", "from → to", "subject"):
        table.add_column(column)
    for m in thread:
        table.add_row(f"{m.created_at:%H:%M}", m.direction, m.kind, f"{m.from_addr} → {m.to_addrs}", escape(m.subject))
    console.print(table)
    history = Table(title="Ticket #1, its history")
    for column in ("at (UTC)", "event", "by", "detail"):
        history.add_column(column, overflow="fold")
    for e in events:
        history.add_row(f"{e.at:%H:%M}", e.kind, escape(e.actor), escape(e.detail[:80]))
    console.print(history)
    _show_faq(engine, len(tickets))
    _show_ack(Path(settings.outbound.path))
    console.print(
        Panel.fit(
            f"settings   {config}\n"
            f"database   {directory / 'ventanilla.db'}\n"
            f"mailbox    {settings.inbox.path} (processed mail in .Processed/)\n"
            f"sent mail  {settings.outbound.path} (one .eml per message)\n\n"
            f"Go on with:  ventanilla -c {config} tickets show 1",
            title="Files the demo wrote",
        )
    )


def _show_faq(engine, count: int) -> None:  # type: ignore[no-untyped-def]
    """What each acknowledgement suggested from the FAQ (the tickets' faq-suggested events)."""
    table = Table(title=escape(f"FAQ answers suggested in the acknowledgements ([faq] path = {DEMO_FAQ.name})"))
    for column in ("ticket", "category", "entries suggested (score)"):
        table.add_column(column, overflow="fold")
    with read_only(engine) as session:
        for number in range(1, count + 1):
            ticket = session.get(Ticket, number)
            category = ticket.category if ticket is not None else ""
            details = [e.detail for e in repo.ticket_events(session, number) if e.kind == "faq-suggested"]
            none = "none: the 24/7 revocation line comes first" if category == "revocation" else "-"
            table.add_row(f"#{number}", category, escape("; ".join(details)) or none)
    console.print(table)


def _show_ack(outbox: Path) -> None:
    files = sorted(outbox.glob("*.eml"), key=lambda f: f.stat().st_mtime)
    if not files:
        return
    sent = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    headers = "\n".join(f"{name}: {sent[name]}" for name in SHOWN_HEADERS if sent[name])
    body = sent.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    console.print(Panel(Text(f"{headers}\n\n{text}"), title=f"An acknowledgement as sent ({files[0].name}, text part)"))


SHOWN_HEADERS = ("From", "To", "Subject", "In-Reply-To", "Reply-To", "Auto-Submitted", "X-Ventanilla-Loop")
