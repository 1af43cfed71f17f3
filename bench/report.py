"""Benchmark: the monthly report over 12 months of 1,000,000 messages and 200,000 calls.

    python bench/report.py                                   # both backends, full size (~10 min each)
    python bench/report.py --db sqlite --messages 100000 --calls 20000 --month 2025-10
    python bench/report.py --db postgresql --keep            # keep the data to EXPLAIN it afterwards
    python bench/report.py --breakdown                       # also time each of the report's queries

Builds a year (the calendar year of --month, Europe/Madrid) with bulk Core inserts, bypassing the
product's paths (bench/month.py writes a month through them, far too slowly for a million rows)
but with the rows those paths write: tickets; inbound user mail with an acknowledgement;
agents' replies (stored inbound as kind 'agent' plus the relayed 'agent_reply' copy) at realistic
response times (97 % under 24 h); follow-ups, second replies, notes, escalations (2 %), SLA events;
a call log of weekday half hours (84/10/6 % attended/lost/abandoned, busy slots wait longer) with
phone follow-ups and missed-call tickets. `--messages` counts every message row (in and out).
Receipts are not written: the report does not read them (message.receipt_id stays NULL).

Then, per backend, the median of --repeat runs of `monthly_report` for --month, against the
median of a plain COUNT(*) of the month's inbound user messages (the cheapest possible query of
the month), and checks the figures the generator knows (emails, answers, calls by outcome).
SQLite is timed as the product leaves it (no ANALYZE: nothing in Ventanilla runs it) and again
after ANALYZE; PostgreSQL after ANALYZE (what autovacuum reaches minutes after a bulk load).
Target (issue 6): the report under 2 s on both.
"""

import argparse
import bisect
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tickets.db import make_engine  # noqa: E402
from tickets.migrate import upgrade  # noqa: E402
from tickets.models import Event, Message, Ticket  # noqa: E402
from tickets.phone.models import Call  # noqa: E402
from tickets.report import queries as rpt  # noqa: E402

PG_URL = os.environ.get("VENTANILLA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TZ = "Europe/Madrid"
ZONE = ZoneInfo(TZ)
CHUNK = 10_000
HELPDESK = "soporte@ventanilla.example"
AGENTS = tuple(f"{n}@ventanilla.example" for n in ("ana", "luis", "marta", "jorge", "elena", "pablo", "sara", "ivan"))
CATEGORIES = (("obtaining", 35), ("renewal", 25), ("export-import", 20), ("revocation", 8), ("general", 12))
SUBJECTS = {
    "obtaining": "No puedo obtener mi certificado",
    "renewal": "Renovar certificado que caduca",
    "export-import": "Exportar certificado a otro equipo",
    "revocation": "Revocar certificado",
    "general": "Consulta",
}
# First-answer response time bands (hours, weight %): 97 % under 24 h as in October 2013.
RESPONSE = ((0.05, 1, 24.0), (1, 4, 33.0), (4, 8, 20.0), (8, 24, 20.0), (24, 48, 2.6), (48, 120, 0.4))
HOUR_WEIGHT = (1, 1, 0, 0, 0, 0, 1, 2, 6, 10, 12, 12, 11, 10, 7, 6, 8, 8, 7, 5, 4, 3, 2, 1)
MONTH_WEIGHT = (1.0, 1.1, 1.1, 1.0, 1.1, 1.0, 0.9, 0.6, 1.1, 1.2, 1.2, 0.8)
BUSY = {(10, 30), (11, 0), (11, 30), (12, 0), (12, 30), (13, 0), (17, 0), (17, 30)}
WORDS = (
    "hola buenos días tengo un problema con el certificado al intentar descargarlo desde la página "
    "me dice que el código de solicitud no es válido he probado con otro navegador y tampoco "
    "funciona necesito firmar un documento antes del viernes podrían ayudarme por favor gracias "
    "un saludo adjunto captura de pantalla del error que aparece cuando pulso el botón"
).split()

MessageRow = tuple[datetime, int, str, str, str, str, str, str, str, str]  # at, ticket key, dir, kind, ...
EventRow = tuple[datetime, int, str, str, str]  # at, ticket key, kind, actor, detail


# ---------------------------------------------------------------------------------------------
# Generation (pure Python, deterministic for a seed)


class Year:
    """Samplers of local moments over the twelve months of one year."""

    def __init__(self, year: int, rng: random.Random) -> None:
        self.rng = rng
        self.days = [
            date(year, 1, 1) + timedelta(days=i) for i in range((date(year + 1, 1, 1) - date(year, 1, 1)).days)
        ]
        day_w = [MONTH_WEIGHT[d.month - 1] * (1.0, 1.0, 1.0, 1.0, 0.9, 0.25, 0.15)[d.weekday()] for d in self.days]
        self.day_cum = _cumulative(day_w)
        self.hour_cum = _cumulative(HOUR_WEIGHT)
        self.weekdays = [d for d in self.days if d.weekday() < 5]
        self.week_cum = _cumulative([MONTH_WEIGHT[d.month - 1] for d in self.weekdays])
        self.slots = [(h, m) for h in range(8, 19) for m in (0, 30)]
        self.slot_cum = _cumulative([2.0 if s in BUSY else 1.0 for s in self.slots])

    def mail_moment(self) -> datetime:
        rng = self.rng
        day = self.days[bisect.bisect(self.day_cum, rng.random() * self.day_cum[-1])]
        hour = bisect.bisect(self.hour_cum, rng.random() * self.hour_cum[-1])
        return _utc(day, hour, rng.randrange(60), rng.randrange(60))

    def call_moment(self) -> tuple[datetime, bool]:
        rng = self.rng
        day = self.weekdays[bisect.bisect(self.week_cum, rng.random() * self.week_cum[-1])]
        h, m = self.slots[bisect.bisect(self.slot_cum, rng.random() * self.slot_cum[-1])]
        return _utc(day, h, m + rng.randrange(30), rng.randrange(60)), (h, m) in BUSY


def _cumulative(weights: Iterable[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def _utc(day: date, hour: int, minute: int, second: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=ZONE).astimezone(UTC)


class Data:
    """Rows of the year, keyed by a provisional ticket key until tickets are numbered by creation."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tickets: list[dict[str, Any]] = []  # index = ticket key
        self.messages: list[MessageRow] = []
        self.events: list[EventRow] = []
        self.calls: list[dict[str, Any]] = []
        self.texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 110))) for _ in range(500)]
        self.seq = 0

    def text(self) -> str:
        return self.rng.choice(self.texts)

    def mid(self) -> str:
        self.seq += 1
        return f"<{self.seq:x}.{self.rng.getrandbits(40):x}@correo.example>"

    def ticket(self, at: datetime, email: str, name: str, category: str, subject: str) -> int:
        self.tickets.append(
            {
                "status": "open",
                "priority": "urgent" if category == "revocation" else "normal",
                "category": category,
                "language": "es" if self.rng.random() < 0.9 else "en",
                "requester_email": email,
                "requester_name": name,
                "subject": subject,
                "created_at": at,
                "updated_at": at,
                "cycle": 1,
                "cycle_started_at": at,
                "response_due_at": at + timedelta(hours=24),
                "hard_due_at": at + timedelta(hours=48),
                "first_answered_at": None,
                "assigned_agent": "",
                "linked_ticket_id": None,
                "requester_undeliverable": False,
            }
        )
        return len(self.tickets) - 1

    def msg(self, at: datetime, key: int, direction: str, kind: str, sender: str, to: str, subject: str,
            body: str, message_id: str = "", name: str = "") -> None:  # fmt: skip
        self.messages.append((at, key, direction, kind, sender, name, to, subject, message_id, body))

    def event(self, at: datetime, key: int, kind: str, actor: str = "", detail: str = "") -> None:
        self.events.append((at, key, kind, actor, detail))

    def answer(self, key: int, at: datetime, agent: str, *, phone: bool = False) -> None:
        """An agent's email answer (inbound copy + relayed reply) and the events the product writes."""
        t = self.tickets[key]
        lag = timedelta(seconds=self.rng.randint(5, 90))
        subject = "Re: " + t["subject"]
        if not phone:
            self.msg(at, key, "in", "agent", agent, HELPDESK, subject, self.text(), self.mid())
            self.event(at + lag, key, "agent-reply", agent, t["requester_email"])
            self.msg(
                at + lag, key, "out", "agent_reply", HELPDESK, t["requester_email"], subject, self.text(), self.mid()
            )
            self.event(at + lag, key, "queued-agent_reply", "", t["requester_email"])
        if t["first_answered_at"] is None:
            hours = (at - t["cycle_started_at"]).total_seconds() / 3600
            t["first_answered_at"] = at
            self.event(at + lag, key, "answered", agent, f"cycle 1: {hours:.2f} h" + (" (phone)" if phone else ""))
        if not t["assigned_agent"]:
            t["assigned_agent"] = agent
            self.event(at + lag, key, "assigned", agent, f"- -> {agent} (first reply)")
        if t["status"] in ("open", "escalated"):
            self.event(at + lag, key, "status", agent, f"{t['status']} -> pending")
            t["status"] = "pending"
        t["updated_at"] = at + lag


def response_hours(rng: random.Random) -> float:
    r = rng.random() * 100
    for low, high, weight in RESPONSE:
        if r < weight:
            return rng.uniform(low, high)
        r -= weight
    return rng.uniform(48, 120)


def email_ticket(data: Data, year: Year, key_hint: int) -> None:
    """One emailed request and what the help desk does with it."""
    rng = data.rng
    t0 = year.mail_moment()
    category = rng.choices([c for c, _ in CATEGORIES], [w for _, w in CATEGORIES])[0]
    user, name = f"user{key_hint}@correo{key_hint % 97}.example", f"Usuario {key_hint}"
    subject = f"{SUBJECTS[category]} ({key_hint})"
    key = data.ticket(t0, user, name, category, subject)
    lag = timedelta(seconds=rng.randint(20, 120))
    data.msg(t0, key, "in", "user", user, HELPDESK, subject, data.text(), data.mid(), name)
    data.event(t0 + lag, key, "created", user, category)
    if rng.random() < 0.96:
        data.msg(t0 + lag, key, "out", "ack", HELPDESK, user, "Re: " + subject, data.text(), data.mid())
        data.event(t0 + lag, key, "queued-ack", "", user)
        if rng.random() < 0.02:  # an out-of-office answer to our acknowledgement
            data.msg(t0 + lag * 2, key, "in", "auto", user, HELPDESK, "Fuera de la oficina", data.text(), data.mid())
    else:
        data.event(t0 + lag, key, "ack-suppressed", "", "rate limit")
    agent = rng.choice(AGENTS)
    answered = rng.random() >= 0.006
    hours = response_hours(rng)
    at = t0 + timedelta(hours=hours)
    if hours > 20:
        data.event(t0 + timedelta(hours=20), key, "sla-warning", "sla", "response due in 4 h")
    if hours > 24:
        data.event(t0 + timedelta(hours=24), key, "sla-breach", "sla", "response overdue")
    if hours > 48 or (not answered and rng.random() < 0.5):
        data.event(t0 + timedelta(hours=48), key, "escalated", "sla", "hard limit passed")
        data.tickets[key]["status"] = "escalated"
    elif rng.random() < 0.016:
        data.event(t0 + timedelta(hours=hours / 2), key, "escalated", agent, "needs a supervisor")
        data.event(t0 + timedelta(hours=hours / 2), key, "status", agent, "open -> escalated")
        data.tickets[key]["status"] = "escalated"
    if hours > 8 and rng.random() < 0.2:  # "any news?" before the answer
        data.msg(t0 + timedelta(hours=hours * 0.6), key, "in", "user", user, HELPDESK, "Re: " + subject, data.text(),
                 data.mid(), name)  # fmt: skip
        data.event(t0 + timedelta(hours=hours * 0.6), key, "user-message", user)
    r = rng.random()
    if r < 0.035:
        when = t0 + timedelta(hours=hours / 3)
        data.msg(when, key, "in", "note", agent, "", "", data.text())
        data.event(when, key, "note", agent)
        other = rng.choice([a for a in AGENTS if a != agent])
        data.msg(when, key, "out", "agent_notification", HELPDESK, other, "[nota] " + subject, data.text(), data.mid())
    elif r < 0.05:
        data.event(t0 + timedelta(hours=hours / 4), key, "assigned", AGENTS[0], f"- -> {agent}")
        data.tickets[key]["assigned_agent"] = agent
    elif r < 0.053:
        data.event(t0 + timedelta(hours=hours / 4), key, "forwarded", agent, "to registro@ventanilla.example")
    if not answered:
        return
    data.answer(key, at, agent)
    last = at
    if rng.random() < 0.22:  # the user writes back; most get a second answer
        back = at + timedelta(hours=rng.uniform(0.5, 72))
        data.msg(back, key, "in", "user", user, HELPDESK, "Re: " + subject, data.text(), data.mid(), name)
        data.event(back + lag, key, "user-message", user)
        data.tickets[key]["status"] = "open"
        last = back
        if rng.random() < 0.65:
            last = back + timedelta(hours=response_hours(rng))
            data.answer(key, last, agent)
    data.event(last + timedelta(days=7), key, "status", "sla", "pending -> closed")
    data.tickets[key]["status"] = "closed"


def call_log(data: Data, year: Year, count: int) -> list[tuple[int, datetime, str]]:
    """The call log; returns the attended calls to attach to an existing email ticket later."""
    rng = data.rng
    attach: list[tuple[int, datetime, str]] = []
    for k in range(count):
        started, busy = year.call_moment()
        r = rng.random()
        outcome = "answered" if r < 0.84 else "lost" if r < 0.94 else "abandoned"
        wait = max(0, int(rng.gauss(150 if busy else 40, 45 if busy else 15) * (1.6 if outcome == "abandoned" else 1)))
        line = "revocation" if rng.random() < 0.1 else "general"
        agent = rng.choice(AGENTS) if outcome == "answered" else ""
        call = {
            "started_at": started,
            "line": line,
            "outcome": outcome,
            "wait_seconds": wait,
            "duration_seconds": rng.randint(60, 900) if outcome == "answered" else 0,
            "caller_phone": f"+34 6{k:08d}",
            "caller_email": "",
            "caller_name": "",
            "agent": agent,
            "summary": data.text() if outcome == "answered" else "",
            "ticket_id": None,
            "followup": "",
            "recorded_at": started + timedelta(minutes=5),
        }
        data.calls.append(call)
        now = started + timedelta(minutes=5)
        if outcome == "answered" and rng.random() < 0.22:  # followed up in writing
            email = f"caller{k}@correo{k % 97}.example"
            call.update(caller_email=email, caller_name=f"Llamante {k}", followup="phone_followup")
            if rng.random() < 0.3:
                attach.append((len(data.calls) - 1, started, agent))  # the caller's open email ticket
                continue
            key = data.ticket(started, email, f"Llamante {k}", "general", f"Llamada del {started:%d/%m}")
            data.event(now, key, "created", agent, "from a phone call (answered)")
            call["ticket_id"] = key
            phone_followup(data, key, call, now)
        elif outcome != "answered" and rng.random() < 0.1:  # left an address: "we missed your call"
            email = f"missed{k}@correo{k % 97}.example"
            call.update(caller_email=email, followup="missed_call")
            key = data.ticket(started, email, "", "general", f"Llamada perdida del {started:%d/%m}")
            call["ticket_id"] = key
            data.event(now, key, "created", "", f"from a phone call ({outcome})")
            data.msg(started, key, "in", "missed_call", email, "", f"{line} {outcome} (0 s)", "")
            data.event(now, key, "missed-call", "", f"call {k} {outcome} on {line}")
            data.msg(now, key, "out", "missed_call", HELPDESK, email, "Le llamaremos", data.text(), data.mid())
            data.event(now, key, "queued-missed_call", "", email)
            if rng.random() < 0.8:
                data.answer(key, started + timedelta(hours=response_hours(rng)), rng.choice(AGENTS))
    return attach


def phone_followup(data: Data, key: int, call: dict[str, Any], now: datetime) -> None:
    t = data.tickets[key]
    started, agent = call["started_at"], call["agent"]
    subject = f"{call['line']} answered ({call['duration_seconds']} s)"
    data.msg(
        started, key, "in", "phone", agent, call["caller_phone"], subject, call["summary"], "", call["caller_name"]
    )
    data.event(now, key, "phone-call", agent, f"call on {call['line']}")
    data.answer(key, started, agent, phone=True)
    data.msg(now, key, "out", "phone_followup", HELPDESK, t["requester_email"], "Resumen de su llamada", data.text(),
             data.mid())  # fmt: skip


def generate(messages: int, calls: int, year_number: int, seed: int) -> Data:
    rng = random.Random(seed)
    data, year = Data(rng), Year(year_number, rng)
    attach = call_log(data, year, calls)
    budget = messages - 2 * len(attach)  # those calls add a phone message and its follow-up each
    email_keys = []
    while len(data.messages) < budget:
        before = len(data.messages)
        email_ticket(data, year, len(data.tickets))
        email_keys.append(len(data.tickets) - 1)
        if len(data.messages) > budget:  # trim the last ticket to the exact total
            extra = len(data.messages) - budget
            assert extra < len(data.messages) - before
            del data.messages[-extra:]
    email_keys.sort(key=lambda k: data.tickets[k]["created_at"])
    starts = [data.tickets[k]["created_at"] for k in email_keys]
    for index, started, _agent in attach:  # a ticket that came in during the previous 12 hours
        i = bisect.bisect_left(starts, started)
        j = max(0, bisect.bisect_left(starts, started - timedelta(hours=12)))
        key = email_keys[rng.randrange(j, i)] if i > j else email_keys[max(0, i - 1)]
        call = data.calls[index]
        call["ticket_id"] = key
        phone_followup(data, key, call, started + timedelta(minutes=5))
    return data


# ---------------------------------------------------------------------------------------------
# Loading


def load(engine: Engine, data: Data) -> dict[str, int]:
    """Insert in creation order (ids grow with time, as in production), chunks of CHUNK rows."""
    order = sorted(range(len(data.tickets)), key=lambda k: data.tickets[k]["created_at"])
    ticket_id = [0] * len(order)
    for number, key in enumerate(order, start=1):
        ticket_id[key] = number
    data.messages.sort(key=lambda m: m[0])
    data.events.sort(key=lambda e: e[0])
    data.calls.sort(key=lambda c: c["started_at"])

    def tickets() -> Iterator[dict[str, Any]]:
        for number, key in enumerate(order, start=1):
            yield {"id": number, **data.tickets[key]}

    def messages() -> Iterator[dict[str, Any]]:
        for number, (at, key, direction, kind, sender, name, to, subject, mid, body) in enumerate(data.messages, 1):
            yield {"id": number, "ticket_id": ticket_id[key], "receipt_id": None, "direction": direction,
                   "kind": kind, "from_addr": sender, "from_name": name, "to_addrs": to, "cc_addrs": "",
                   "subject": subject, "message_id": mid, "text": body, "html": "", "created_at": at}  # fmt: skip

    def events() -> Iterator[dict[str, Any]]:
        for number, (at, key, kind, actor, detail) in enumerate(data.events, 1):
            yield {"id": number, "ticket_id": ticket_id[key], "at": at, "kind": kind, "actor": actor, "detail": detail}

    def calls() -> Iterator[dict[str, Any]]:
        for number, call in enumerate(data.calls, 1):
            key = call["ticket_id"]
            yield {**call, "id": number, "ticket_id": None if key is None else ticket_id[key]}

    counts = {}
    model: Any
    for model, rows in ((Ticket, tickets()), (Message, messages()), (Event, events()), (Call, calls())):
        counts[model.__tablename__] = _insert(engine, model.__table__, rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for name in counts:
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
                )
    return counts


def _insert(engine: Engine, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    n = 0
    with engine.begin() as conn:
        while batch := [row for _, row in zip(range(CHUNK), rows, strict=False)]:
            conn.execute(insert(table), batch)
            n += len(batch)
    return n


def analyze(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


# ---------------------------------------------------------------------------------------------
# Timing


def expected(data: Data, month: str) -> dict[str, Any]:
    start, end = rpt.month_bounds(month, TZ)
    kinds = Counter(m[3] for m in data.messages if m[2] == "in" and start <= m[0] < end)
    outcomes = Counter(c["outcome"] for c in data.calls if start <= c["started_at"] < end)
    return {
        "emails_received": kinds["user"],
        "answers_by_email": kinds["agent"],
        "answers_by_phone": kinds["phone"],
        "calls": sum(outcomes.values()),
        "attended": outcomes["answered"],
        "lost": outcomes["lost"],
        "abandoned": outcomes["abandoned"],
        "daily emails": kinds["user"],  # the daily chart adds up to the month's totals
        "daily answers": kinds["agent"] + kinds["phone"],
    }


def median_time(engine: Engine, repeat: int, work: Callable[[Session], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        with Session(engine) as session:
            started = time.perf_counter()
            result = work(session)
            times.append(time.perf_counter() - started)
    return statistics.median(times), result


def baseline(month: str) -> Callable[[Session], int]:
    start, end = rpt.month_bounds(month, TZ)

    def count(session: Session) -> int:
        query = select(func.count()).select_from(Message).where(rpt._received_filter(start, end))
        return int(session.scalar(query) or 0)

    return count


def parts(month: str) -> dict[str, Callable[[Session], Any]]:
    """Each query of monthly_report alone (private helpers, for --breakdown)."""
    start, end = rpt.month_bounds(month, TZ)
    return {
        "received": lambda s: rpt._count_received(s, start, end),
        "answers": lambda s: rpt._answers(s, start, end),
        "escalations": lambda s: rpt._escalations(s, start, end),
        "other_actions": lambda s: rpt._other_actions(s, start, end),
        "response_times": lambda s: rpt._response_times(s, start, end),
        "calls": lambda s: rpt._calls(s, start, end),
        "slots": lambda s: rpt._slots(s, start, end, TZ, "general"),
        "daily": lambda s: rpt._daily(s, start, end, TZ),
        "categories": lambda s: rpt._categories(s, start, end),
    }


def measure(engine: Engine, label: str, month: str, repeat: int, want: dict[str, Any], breakdown: bool) -> float:
    base, counted = median_time(engine, repeat, baseline(month))
    took, report = median_time(engine, repeat, lambda s: rpt.monthly_report(s, month=month, timezone=TZ))
    verdict = "OK" if took < 2.0 else "OVER TARGET"
    print(f"  {label:<22} report {took * 1000:9.1f} ms   count(*) {base * 1000:7.1f} ms   "
          f"ratio {took / base:7.0f}x   target 2 s: {verdict}")  # fmt: skip
    if breakdown:
        for name, work in parts(month).items():
            t, _ = median_time(engine, repeat, work)
            print(f"      {name:<16} {t * 1000:9.1f} ms")
    got = {
        "emails_received": report.emails_received,
        "answers_by_email": report.answers_by_email,
        "answers_by_phone": report.answers_by_phone,
        "calls": report.calls,
        "attended": report.attended.count,
        "lost": report.lost.count,
        "abandoned": report.abandoned.count,
        "daily emails": sum(d.emails for d in report.daily),
        "daily answers": sum(d.answers for d in report.daily),
    }
    wrong = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert counted == want["emails_received"], (counted, want["emails_received"])
    print(f"    figures: emails {report.emails_received:,}, answers {report.answers:,} "
          f"({report.answered_ratio_pct:.0f} %), <24 h {report.under_24h.pct} %, <48 h {report.under_48h.pct} %, "
          f"escalated {report.escalated.pct} % (waiting {report.escalated_waiting.count}/{report.escalated_tickets}), "
          f"other actions {report.other_actions.pct} %, calls {report.calls:,} "
          f"{report.attended.pct}/{report.lost.pct}/{report.abandoned.pct} %, "
          f"quiet {', '.join(report.quiet_windows)}; "
          + ("checked against the generator: OK" if not wrong
             else f"MISMATCH (report, generated): {wrong}"))  # fmt: skip
    return took


class Database:
    """A fresh SQLite file or PostgreSQL schema (dropped afterwards unless kept)."""

    def __init__(self, backend: str, keep: bool) -> None:
        self.backend, self.keep = backend, keep

    def __enter__(self) -> Engine:
        if self.backend == "sqlite":
            self._dir = tempfile.mkdtemp(prefix="bench_report_")
            self.where = f"{self._dir}/bench.db"
            self.engine = make_engine(f"sqlite:///{self.where}")
        else:
            self.where = "bench_" + uuid.uuid4().hex[:10]
            self._admin = create_engine(PG_URL)
            with self._admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {self.where}"))
            self.engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{self.where}")
        upgrade(self.engine)
        return self.engine

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()
        if self.keep:
            print(f"  kept: {self.where}")
            if self.backend == "postgresql":
                self._admin.dispose()
            return
        if self.backend == "sqlite":
            for name in os.listdir(self._dir):
                os.remove(os.path.join(self._dir, name))
            os.rmdir(self._dir)
        else:
            with self._admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {self.where} CASCADE"))
            self._admin.dispose()


def run(backend: str, data: Data, args: argparse.Namespace, want: dict[str, Any]) -> None:
    print(f"\n== {backend}")
    with Database(backend, args.keep) as engine:
        started = time.perf_counter()
        counts = load(engine, data)
        loaded = time.perf_counter() - started
        print(f"  loaded {', '.join(f'{n:,} {t}' for t, n in counts.items())} in {loaded:.1f} s")
        if backend == "sqlite":
            measure(engine, "as shipped (no stats)", args.month, args.repeat, want, args.breakdown)
        analyze(engine)
        measure(engine, "after ANALYZE", args.month, args.repeat, want, args.breakdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000, help="message rows over the year (in and out)")
    parser.add_argument("--calls", type=int, default=200_000, help="phone calls over the year")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--month", default="2025-10", help="the month to report, YYYY-MM; data spans its year")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the median is shown)")
    parser.add_argument("--seed", type=int, default=2013)
    parser.add_argument("--breakdown", action="store_true", help="also time each query of the report")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file / PostgreSQL schema")
    args = parser.parse_args()
    rpt.month_bounds(args.month, TZ)  # validates
    started = time.perf_counter()
    data = generate(args.messages, args.calls, int(args.month[:4]), args.seed)
    want = expected(data, args.month)
    print(f"generated {len(data.tickets):,} tickets, {len(data.messages):,} messages, {len(data.events):,} events, "
          f"{len(data.calls):,} calls over {args.month[:4]} in {time.perf_counter() - started:.1f} s; "
          f"{args.month}: {want['emails_received']:,} emails received, "
          f"{want['answers_by_email'] + want['answers_by_phone']:,} answers, {want['calls']:,} calls")  # fmt: skip
    for backend in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        run(backend, data, args, want)


if __name__ == "__main__":
    main()
