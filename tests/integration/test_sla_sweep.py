"""The SLA sweep on SQLite and PostgreSQL: each threshold once, cycles, clock jumps, two workers, catch-up."""

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from config.calendar import SeasonSettings
from config.sla import BusinessHoursSettings, SlaSettings
from scheduler.jobs import run_sla_sweep
from tickets.agents.routing import Group, Routing
from tickets.clock import SystemClock
from tickets.db import make_engine, read_only, unit_of_work
from tickets.ingest import service
from tickets.models import Event, Ticket
from tickets.sla.models import SlaAlert
from tickets.sla.policy import THRESHOLDS, SlaPolicy
from tickets.sla.sweep import SweepPolicy, SweepResult
from tickets.values import Address, IncomingMessage, OutgoingEmail, ReceiptKey
from ventanilla.app import App

MADRID = ZoneInfo("Europe/Madrid")
START = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)  # a Monday
SUPERVISORS = ("sup1@ventanilla.example", "sup2@ventanilla.example")
SPRING = SeasonSettings(name="spring", start="05-02", end="06-30", hours=["mon-fri 09:00-21:00", "sat 09:00-14:00"])


def sweep_policy(clock: str = "calendar") -> SweepPolicy:
    settings = SlaSettings(clock=clock, business=BusinessHoursSettings(seasons=[SPRING]))  # type: ignore[arg-type]
    return SweepPolicy(sla=SlaPolicy.from_settings(settings), supervisors=SUPERVISORS, language="en")


def add_ticket(engine: Engine, policy: SweepPolicy, start: datetime = START, **fields: object) -> int:
    priority = str(fields.get("priority", "normal"))
    cycle = policy.sla.cycle(priority, number=1, start=start)
    response_due, hard_due = cycle.response_due_at, cycle.hard_due_at
    values: dict[str, object] = {
        "requester_email": "ana@correo.example",
        "subject": "Certificado",
        "created_at": start,
        "updated_at": start,
        "cycle_started_at": start,
        "response_due_at": response_due,
        "hard_due_at": hard_due,
        **fields,
    }
    with unit_of_work(engine) as session:
        ticket = Ticket(**values)  # type: ignore[arg-type]
        session.add(ticket)
        session.flush()
        return ticket.id or 0


class Recorder:
    """A queue that records intents instead of rendering them."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    def __call__(self, session: object, intent: OutgoingEmail, now: datetime) -> None:
        self.sent.append(intent)


def sweep(engine: Engine, now: datetime, policy: SweepPolicy, queue: Recorder | None = None) -> SweepResult:
    # The App with this test's recorder as its outbox (no settings needed: nothing is rendered).
    jobs = App(None, engine, SystemClock(), outbox=queue or Recorder())  # type: ignore[arg-type]
    return run_sla_sweep(jobs, now=now, policy=policy)


def keys(result: SweepResult) -> list[tuple[int, int, str]]:
    return [(a.ticket_id, a.cycle, a.threshold.key) for a in result.alerts]


def alert_rows(engine: Engine) -> list[tuple[int, int, str]]:
    with read_only(engine) as session:
        rows = session.execute(select(SlaAlert.ticket_id, SlaAlert.cycle, SlaAlert.threshold)).all()
    return sorted((t, c, k) for t, c, k in rows)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=MADRID)  # type: ignore[misc]


SCENARIOS = {
    "calendar": ("calendar", START),
    "calendar-dst": ("calendar", local(2026, 10, 24, 10)),
    "business-weekend-holiday": ("business", local(2026, 10, 9, 17)),
    "business-dst": ("business", local(2026, 10, 23, 18)),
    "business-season": ("business", local(2026, 4, 30, 17)),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_threshold_fires_once_at_its_moment(engine: Engine, scenario: str) -> None:
    clock, start = SCENARIOS[scenario]
    policy = sweep_policy(clock)
    ticket_id = add_ticket(engine, policy, start)
    for threshold in policy.sla.thresholds("normal", start):
        assert keys(sweep(engine, threshold.at - timedelta(seconds=1), policy)) == []
        assert keys(sweep(engine, threshold.at, policy)) == [(ticket_id, 1, threshold.key)]
        assert keys(sweep(engine, threshold.at + timedelta(minutes=1), policy)) == []
    assert keys(sweep(engine, start + timedelta(days=30), policy)) == []
    assert alert_rows(engine) == sorted((ticket_id, 1, k) for k in THRESHOLDS)


def test_hard_limit_escalates_and_writes_an_event(engine: Engine) -> None:
    policy = sweep_policy()
    ticket_id = add_ticket(engine, policy)
    result = sweep(engine, START + timedelta(hours=48), policy)
    assert result.escalated == (ticket_id,)
    with read_only(engine) as session:
        assert session.get(Ticket, ticket_id).status == "escalated"  # type: ignore[union-attr]
        kinds = list(session.scalars(select(Event.kind).where(Event.ticket_id == ticket_id)))
    assert "escalated" in kinds and "sla-breach-48h" in kinds


def test_answered_and_pending_tickets_are_not_alerted(engine: Engine) -> None:
    policy = sweep_policy()
    add_ticket(engine, policy, status="pending")
    add_ticket(engine, policy, first_answered_at=START + timedelta(hours=2))
    add_ticket(engine, policy, status="resolved")
    assert keys(sweep(engine, START + timedelta(days=5), policy)) == []


def test_urgent_tickets_use_their_own_targets(engine: Engine) -> None:
    policy = sweep_policy()
    urgent = add_ticket(engine, policy, priority="urgent")
    normal = add_ticket(engine, policy)
    result = sweep(engine, START + timedelta(hours=8), policy)
    assert sorted(keys(result)) == sorted((urgent, 1, k) for k in THRESHOLDS)
    assert normal not in {a.ticket_id for a in result.alerts}


def test_clock_jumps_back_and_forward(engine: Engine) -> None:
    policy = sweep_policy()
    ticket_id = add_ticket(engine, policy)
    assert {k for _, _, k in keys(sweep(engine, START + timedelta(hours=25), policy))} == {"warn-24h", "breach-24h"}
    assert keys(sweep(engine, START + timedelta(hours=24), policy)) == []  # back one hour
    assert keys(sweep(engine, START + timedelta(hours=25), policy)) == []
    forward = sweep(engine, START + timedelta(hours=49), policy)  # forward one day
    assert sorted(keys(forward)) == [(ticket_id, 1, "breach-48h"), (ticket_id, 1, "warn-48h")]
    assert keys(sweep(engine, START + timedelta(hours=48), policy)) == []
    assert alert_rows(engine) == sorted((ticket_id, 1, k) for k in THRESHOLDS)


def test_worker_down_three_days_catches_up_once(engine: Engine) -> None:
    policy = sweep_policy()
    ids = [add_ticket(engine, policy, START + timedelta(minutes=i)) for i in range(3)]
    queue = Recorder()
    result = sweep(engine, START + timedelta(days=3), policy, queue)
    assert sorted(keys(result)) == sorted((t, 1, k) for t in ids for k in THRESHOLDS)
    assert all(a.late >= timedelta(hours=23) for a in result.alerts)
    assert sorted(i.to[0] for i in queue.sent) == sorted(SUPERVISORS)  # one email per supervisor
    items = queue.sent[0].context.alerts  # type: ignore[union-attr]
    assert len(items) == 12 and all(item.alert.catch_up for item in items)
    assert keys(sweep(engine, START + timedelta(days=3, minutes=1), policy)) == []


def test_two_workers_sweeping_at_the_same_moment_alert_once(db_url: str) -> None:
    policy = sweep_policy()
    setup = make_engine(db_url)
    ids = [add_ticket(setup, policy, START + timedelta(minutes=i)) for i in range(20)]
    setup.dispose()
    barrier = threading.Barrier(2)
    results: list[SweepResult] = []
    queues = [Recorder(), Recorder()]

    def worker(queue: Recorder) -> None:
        engine = make_engine(db_url)
        try:
            barrier.wait()
            results.append(sweep(engine, START + timedelta(hours=49), policy, queue))
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker, args=(q,)) for q in queues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    fired = [k for r in results for k in keys(r)]
    assert sorted(fired) == sorted((t, 1, k) for t in ids for k in THRESHOLDS)
    assert len(fired) == len(set(fired))
    assert sum(len(q.sent) for q in queues) == len(SUPERVISORS)


def test_emails_are_grouped_per_supervisor_and_agent(engine: Engine) -> None:
    policy = sweep_policy()
    mine = add_ticket(engine, policy, assigned_agent="luis@ventanilla.example")
    others = [add_ticket(engine, policy) for _ in range(2)]
    queue = Recorder()
    sweep(engine, START + timedelta(hours=21), policy, queue)
    by_rcpt = {i.to[0]: i for i in queue.sent}
    assert set(by_rcpt) == {*SUPERVISORS, "luis@ventanilla.example"}
    for supervisor in SUPERVISORS:
        assert by_rcpt[supervisor].ticket_id is None
        assert {item.ticket.id for item in by_rcpt[supervisor].context.alerts} == {mine, *others}  # type: ignore[union-attr]
    agent_mail = by_rcpt["luis@ventanilla.example"]
    assert agent_mail.ticket_id == mine and agent_mail.auto_submitted == "auto-generated"
    assert len({i.idempotency_key for i in queue.sent}) == 3


def test_round_robin_group_hears_of_the_escalation_at_the_hard_limit(engine: Engine) -> None:
    # As with #escalate: the ticket's group (not the escalating party, not the supervisors twice)
    # is told; before the hard limit only supervisors and the assigned agent get alerts.
    group = Group(name="certificados", members=("ana@v.example", "luis@v.example"), categories=("renewal",))
    policy = dataclasses.replace(sweep_policy(), routing=Routing(groups=(group,), round_robin=True))
    ticket = add_ticket(engine, policy, category="renewal", assigned_agent="luis@v.example")
    queue = Recorder()
    sweep(engine, START + timedelta(hours=25), policy, queue)  # breach-24h: not an escalation
    assert {i.to[0] for i in queue.sent} == {*SUPERVISORS, "luis@v.example"}
    queue.sent.clear()
    result = sweep(engine, START + timedelta(hours=49), policy, queue)
    assert result.escalated == (ticket,)
    assert {i.to[0] for i in queue.sent} == {*SUPERVISORS, "luis@v.example", "ana@v.example"}
    (ana,) = [i for i in queue.sent if i.to == ("ana@v.example",)]
    assert [item.alert.key for item in ana.context.alerts] == ["breach-48h"]  # type: ignore[union-attr]
    queue.sent.clear()
    no_group = dataclasses.replace(policy, routing=Routing(groups=(group,), round_robin=False))
    other = add_ticket(engine, policy, category="renewal")
    sweep(engine, START + timedelta(hours=49), no_group, queue)
    assert {i.to[0] for i in queue.sent} == set(SUPERVISORS) and queue.sent[0].context.alerts[0].ticket.id == other  # type: ignore[union-attr]


# --- through the real ingest path -----------------------------------------------------------------

INGEST_POLICY = service.IngestPolicy(
    helpdesk_address="soporte@ventanilla.example",
    own_addresses=frozenset({"soporte@ventanilla.example"}),
    sla=SlaPolicy.from_settings(SlaSettings()),
)


def ingest(engine: Engine, uid: int, arrived: datetime, **kw: object) -> int:
    sha = f"{uid:064x}"
    msg = IncomingMessage(  # type: ignore[arg-type]
        sender=Address(name="Ana", email="ana@correo.example"),
        text="Hola, no puedo descargar mi certificado",
        subject="Certificado",
        message_id=f"<m{uid}@correo.example>",
        raw_sha256=sha,
        **kw,
    )
    with unit_of_work(engine) as session:
        result = service.ingest(
            session,
            key=ReceiptKey(mailbox="support", uidvalidity=1, uid=uid),
            raw=b"raw",
            msg=msg,
            arrived_at=arrived,
            now=arrived + timedelta(minutes=1),
            policy=INGEST_POLICY,
        )
    assert result.ticket_id is not None
    return result.ticket_id


def test_pending_time_is_not_counted_and_a_reply_starts_a_new_cycle(engine: Engine) -> None:
    policy = sweep_policy()
    ticket_id = ingest(engine, 1, START)
    with unit_of_work(engine) as session:  # an agent answers at +10 h and sets the ticket pending
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.status, ticket.first_answered_at = "pending", START + timedelta(hours=10)
        session.add(ticket)
    assert keys(sweep(engine, START + timedelta(hours=60), policy)) == []  # 50 h pending: nothing
    user_reply = START + timedelta(hours=60)
    assert ingest(engine, 2, user_reply, in_reply_to=("<m1@correo.example>",)) == ticket_id
    with read_only(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.cycle == 2 and ticket.status == "open"
    assert keys(sweep(engine, user_reply + timedelta(hours=19), policy)) == []
    assert keys(sweep(engine, user_reply + timedelta(hours=20), policy)) == [(ticket_id, 2, "warn-24h")]
    assert alert_rows(engine) == [(ticket_id, 2, "warn-24h")]


def test_sweep_reads_only_due_tickets(engine: Engine) -> None:
    policy = sweep_policy()
    for i in range(30):
        add_ticket(engine, policy, START + timedelta(hours=i))
    result = sweep(engine, START + timedelta(hours=21), policy)
    assert result.candidates == 2  # the tickets of +0 h and +1 h: the other 28 are not read
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(SlaAlert)) == 2
