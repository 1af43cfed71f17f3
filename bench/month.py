"""Write a month with known totals through the product's own paths, so the report can be checked.

    python -m bench.month --db sqlite:///var/month.db [--preset october2013] [--scale 1.0] [--report]

User mail goes through `tickets.ingest.service.ingest` (arrival times spread over the month), agent
replies through `tickets.agents.actions.reply` at chosen response times, escalations and notes
through `tickets.agents.actions`, calls through `tickets.phone.calls.record_call` by outcome and half
hour. `expected(spec)` gives the figures the report must print for the generated month.
"""

import argparse
import hashlib
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config.settings import Settings, load_settings  # noqa: E402
from tickets.agents import actions as agent_actions  # noqa: E402
from tickets.agents.mail import AgentPolicy, agent_policy  # noqa: E402
from tickets.db import unit_of_work  # noqa: E402
from tickets.ingest import rules, service  # noqa: E402
from tickets.phone import calls as phone  # noqa: E402
from tickets.report.queries import month_bounds, share  # noqa: E402
from tickets.sla.policy import SlaPolicy  # noqa: E402
from tickets.values import Address, IncomingMessage, OutgoingEmail, ReceiptKey  # noqa: E402
from ventanilla.secret import generate_secret, with_secret  # noqa: E402

Queue = Callable[[Session, OutgoingEmail, datetime], None]
AGENT = "ana@ventanilla.example"
QUIET_WAIT, BUSY_WAIT = 40, 150  # seconds: every call of a half hour waits the same
BUSY = ("10:30", "11:00", "11:30", "12:00", "12:30", "13:00", "17:00", "17:30")
TOPICS = (
    ("No puedo descargar mi certificado", "Al descargarlo dice que el código no es válido."),
    ("Renovar certificado que caduca", "Mi certificado caduca pronto, ¿cómo lo renuevo?"),
    ("Exportar certificado a otro equipo", "¿Cómo hago una copia de seguridad .pfx desde Firefox?"),
    ("Revocar certificado", "He perdido el ordenador y quiero revocar mi certificado."),
    ("Consulta", "Tengo una duda sobre mi cita."),
)
BATCH = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class MonthSpec:
    """The totals to write. Answers = email replies + phone follow-ups."""

    month: str = "2013-10"
    timezone: str = "Europe/Madrid"
    emails: int
    email_replies: int
    phone_followups: int
    over_48h: int  # email replies answered after 48 h
    from_24h_to_48h: int
    escalated: int
    other_actions: int  # internal notes on distinct tickets
    calls_answered: int
    calls_lost: int
    calls_abandoned: int


def october2013(scale: float = 1.0) -> MonthSpec:
    """DESIGN.md's October 2013 (8,770 emails, 11,081 answers ...), every total times `scale`."""

    def n(value: int) -> int:
        return max(0, round(value * scale))

    return MonthSpec(
        emails=n(8770),
        email_replies=n(9581),
        phone_followups=n(1500),
        over_48h=n(4),
        from_24h_to_48h=n(305),
        escalated=n(175),
        other_actions=n(351),
        calls_answered=n(6850),
        calls_lost=n(810),
        calls_abandoned=n(450),
    )


PRESETS = {"october2013": october2013}


def response_hours(spec: MonthSpec) -> list[float]:
    """The first reply's response time of each email (None-free: every email is answered)."""
    hours = [50.0] * spec.over_48h + [30.0] * spec.from_24h_to_48h
    fast = (0.5, 2.0, 5.0, 10.0, 20.0)
    hours += [fast[i % len(fast)] for i in range(spec.emails - len(hours))]
    return hours[: spec.emails]


def arrivals(spec: MonthSpec) -> list[datetime]:
    start, end = month_bounds(spec.month, spec.timezone)
    step = (end - start) / max(spec.emails, 1)
    return [start + step * (i + 0.5) for i in range(spec.emails)]


def slots_cycle() -> list[str]:
    """Half hours of the general line's day (08:00-19:00), the busy ones twice."""
    slots = [f"{h:02d}:{m:02d}" for h in range(8, 19) for m in (0, 30)]
    return slots + [s for s in slots if s in BUSY]


def call_times(spec: MonthSpec, count: int) -> Iterator[tuple[datetime, int]]:
    """(start, wait) of each call: every half hour covered first, then weekdays of the month."""
    zone = ZoneInfo(spec.timezone)
    start, end = month_bounds(spec.month, spec.timezone)
    first = start.astimezone(zone).date()
    days = [first + timedelta(days=i) for i in range((end - start).days + 1)]
    days = [d for d in days if d.weekday() < 5 and d.month == first.month]
    cycle = slots_cycle()
    for k in range(count):
        slot = cycle[k % len(cycle)]
        day = days[(k // len(cycle)) % len(days)]
        again = k // (len(cycle) * len(days))
        hour, minute = (int(p) for p in slot.split(":"))
        local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone) + timedelta(seconds=7 * again)
        yield local.astimezone(UTC), BUSY_WAIT if slot in BUSY else QUIET_WAIT


def expected(spec: MonthSpec) -> dict[str, Any]:
    """The figures the report must print for a month written by `generate(spec)`."""
    hours = response_hours(spec)
    answered_emails = min(spec.email_replies, spec.emails)
    seconds = spec.email_replies - answered_emails
    over = sum(1 for h in hours[:answered_emails] if h >= 48)
    mid = sum(1 for h in hours[:answered_emails] if 24 <= h < 48)
    answers = spec.email_replies + spec.phone_followups
    lt24 = answers - over - mid
    calls = spec.calls_answered + spec.calls_lost + spec.calls_abandoned
    assert seconds <= sum(1 for h in hours if h <= 10), "too many second replies for the fast tickets"
    return {
        "emails_received": spec.emails,
        "answers": answers,
        "answered_ratio_pct": round(100 * answers / spec.emails, 2) if spec.emails else 0.0,
        "escalated": share(spec.escalated, spec.emails),
        "other_actions": share(spec.other_actions, spec.emails),
        "escalated_waiting": share(0, spec.escalated),
        "under_24h": share(lt24, answers),
        "under_48h": share(lt24 + mid, answers),
        "over_48h": share(over, answers),
        "calls": calls,
        "attended": share(spec.calls_answered, calls),
        "lost": share(spec.calls_lost, calls),
        "abandoned": share(spec.calls_abandoned, calls),
        "quiet_windows": ("08:00–10:30", "13:30–17:00", "18:00–19:00") if calls >= len(slots_cycle()) else None,
        "peak_wait_seconds": float(BUSY_WAIT) if calls >= len(slots_cycle()) else None,
        "categories": dict(Counter(_category(spec, i) for i in range(spec.emails))),
    }


def _category(spec: MonthSpec, index: int, categories: tuple[rules.CategoryRuleSpec, ...] | None = None) -> str:
    subject, body = TOPICS[index % len(TOPICS)]
    rules_ = _ingest_policy(load_settings(None)[0]).categories if categories is None else categories
    return rules.categorise(f"{subject}\n{body}", rules_)[0]


def _ingest_policy(settings: Settings) -> service.IngestPolicy:
    helpdesk = settings.helpdesk
    return service.IngestPolicy(
        helpdesk_address=helpdesk.address,
        own_addresses=frozenset([helpdesk.address, *helpdesk.own_addresses]),
        default_language=helpdesk.language,
        categories=tuple(
            rules.CategoryRuleSpec(name=c.name, keywords=tuple(c.keywords), priority=c.priority)
            for c in helpdesk.categories
        ),
        acks_per_hour=10_000,
        sla=SlaPolicy.from_settings(settings.sla, settings.calendar.timezone),
    )


def _drop(_session: Session, _intent: OutgoingEmail, _now: datetime) -> None:
    return None


def generate(engine: Engine, spec: MonthSpec, *, settings: Settings | None = None, queue: Queue | None = None) -> None:
    """Write the month: emails, replies, escalations, notes and calls (intents go to `queue`)."""
    settings = settings or load_settings(None)[0]
    if not settings.helpdesk.secret.get_secret_value():  # no built-in secret: one for this run
        settings = with_secret(settings, generate_secret())
    send = queue or _drop
    ingest_policy = _ingest_policy(settings)
    helpdesk = settings.helpdesk.model_copy(update={"agents": [AGENT], "supervisors": []})
    agents = replace(agent_policy(helpdesk, settings.agents, sla=ingest_policy.sla), supervisors=())
    tickets = _write_emails(engine, spec, ingest_policy, send)
    _write_answers(engine, spec, tickets, agents, send)
    _write_calls(engine, spec, phone.PhonePolicy(ingest=ingest_policy, timezone=spec.timezone), send)


def _incoming(spec: MonthSpec, index: int) -> IncomingMessage:
    subject, body = TOPICS[index % len(TOPICS)]
    sender = f"user{index}@{spec.month}.example"
    sha = hashlib.sha256(f"{spec.month}:{index}".encode()).hexdigest()
    return IncomingMessage(
        message_id=f"<m{index}.{spec.month}@correo.example>",
        sender=Address(name=f"Usuario {index}", email=sender),
        to=(Address(name="", email="soporte@ventanilla.example"),),
        subject=f"{subject} ({index})",
        text=f"Hola,\n{body}\nGracias",
        raw_sha256=sha,
    )


def _write_emails(engine: Engine, spec: MonthSpec, policy: service.IngestPolicy, send: Queue) -> list[int]:
    tickets: list[int] = []
    times = arrivals(spec)
    for first in range(0, spec.emails, BATCH):
        with unit_of_work(engine) as session:
            for i in range(first, min(first + BATCH, spec.emails)):
                msg = _incoming(spec, i)
                key = ReceiptKey(mailbox=f"bench-{spec.month}", uidvalidity=1, uid=i + 1)
                now = times[i] + timedelta(minutes=1)
                result = service.ingest(
                    session, key=key, raw=msg.raw_sha256.encode(), msg=msg, arrived_at=times[i], now=now, policy=policy
                )
                assert result.ticket_id is not None, result
                tickets.append(result.ticket_id)
                for intent in result.outgoing:
                    send(session, intent, now)
    return tickets


def _write_answers(engine: Engine, spec: MonthSpec, tickets: list[int], agents: AgentPolicy, send: Queue) -> None:
    """First replies at the chosen response times; escalations and notes before them; then second replies."""
    times, hours = arrivals(spec), response_hours(spec)
    _, end = month_bounds(spec.month, spec.timezone)
    answered = min(spec.email_replies, spec.emails)
    second = [i for i in range(spec.emails) if hours[i] <= 10][: spec.email_replies - answered]
    escalate = set(range(spec.escalated))
    notes = set(range(spec.emails - spec.other_actions, spec.emails))
    for first in range(0, spec.emails, BATCH):
        with unit_of_work(engine) as session:
            for i in range(first, min(first + BATCH, spec.emails)):
                at = min(times[i] + timedelta(hours=hours[i]), end - timedelta(seconds=30))
                steps: list[tuple[Callable[..., Any], str, datetime]] = []
                if i in escalate:
                    steps.append((agent_actions.escalate, "needs a supervisor", times[i] + (at - times[i]) / 2))
                if i in notes:
                    steps.append((agent_actions.note, "checked the request log", times[i] + (at - times[i]) / 3))
                if i < answered:
                    steps.append((agent_actions.reply, f"Hola,\nrespuesta {i}.", at))
                if i in second:
                    steps.append((agent_actions.reply, f"Hola,\notra respuesta {i}.", at + timedelta(minutes=30)))
                for action, text, when in sorted(steps, key=lambda s: s[2]):
                    for intent in action(session, tickets[i], AGENT, text, when, agents):
                        send(session, intent, when)


def _write_calls(engine: Engine, spec: MonthSpec, policy: phone.PhonePolicy, send: Queue) -> None:
    """Attended calls (the first `phone_followups` from callers who leave an address), lost, abandoned."""
    outcomes = ["answered"] * spec.calls_answered + ["lost"] * spec.calls_lost + ["abandoned"] * spec.calls_abandoned
    order = _spread(outcomes)
    followups = 0
    calls = list(zip(call_times(spec, len(order)), order, strict=True))
    for first in range(0, len(calls), BATCH):
        with unit_of_work(engine) as session:
            for k, ((started, wait), outcome) in enumerate(calls[first : first + BATCH], start=first):
                email = ""
                if outcome == "answered" and followups < spec.phone_followups:
                    email, followups = f"caller{k}@{spec.month}.example", followups + 1
                elif outcome != "answered" and k % 10 == 0:
                    email = f"missed{k}@{spec.month}.example"
                call = phone.CallRecord(
                    started_at=started,
                    outcome=outcome,
                    wait_seconds=wait,
                    duration_seconds=240 if outcome == "answered" else 0,
                    caller_phone=f"+34 600 {k:06d}",
                    caller_email=email,
                    agent=AGENT if outcome == "answered" else "",
                    summary="Revisamos juntos la descarga del certificado." if outcome == "answered" else "",
                )
                result = phone.record_call(session, call, now=started + timedelta(minutes=5), policy=policy)
                for intent in result.outgoing:
                    send(session, intent, started)
    assert followups == spec.phone_followups, "fewer attended calls than phone follow-ups"


def _spread(outcomes: list[str]) -> list[str]:
    """Interleave outcomes so every kind falls across the whole month (deterministic)."""
    counts = Counter(outcomes)
    total = len(outcomes)
    keyed = [(k / counts[o], o) for o in ("answered", "lost", "abandoned") for k in range(counts[o])]
    return [o for _, o in sorted(keyed)][:total]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="database URL (it is migrated first)")
    parser.add_argument("--preset", default="october2013", choices=sorted(PRESETS))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--report", action="store_true", help="print the month's report afterwards")
    args = parser.parse_args(argv)
    import time

    from tickets.db import make_engine, read_only
    from tickets.migrate import upgrade
    from tickets.report.queries import monthly_report

    engine = make_engine(args.db)
    upgrade(engine)
    spec = PRESETS[args.preset](args.scale)
    started = time.perf_counter()
    generate(engine, spec)
    print(f"generated {spec} in {time.perf_counter() - started:.1f} s")
    if args.report:
        from mailer.report_render import render

        with read_only(engine) as session:
            report = monthly_report(session, month=spec.month, timezone=spec.timezone)
        print(render(report, "text", "en"))


if __name__ == "__main__":
    main()
