"""The monthly service report's figures, computed in the database with GROUP BY / COUNT / CASE.

Every figure is defined in README.md ("Monthly report: definitions"). The month runs from
midnight of its first day to midnight of the next month's first day in the service's zone.
Times are those things happened (arrival at the mailbox, a call's start), never the time a
worker processed them, so a backlog processed late gives the same figures.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, and_, case, cast, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from tickets.models import Event, Message, Ticket
from tickets.phone.models import Call
from tickets.report.figures import (
    RT_BUCKETS,
    Day,
    MonthlyReport,
    Slot,
    month_bounds,
    quiet_windows,
    share,
)

# The tables' Core columns: typed as SQL expressions (the model attributes type as plain values).
_M = Message.__table__.c  # type: ignore[attr-defined]
_E = Event.__table__.c  # type: ignore[attr-defined]
_T = Ticket.__table__.c  # type: ignore[attr-defined]
_C = Call.__table__.c  # type: ignore[attr-defined]

ANSWER_KINDS = ("agent", "phone")  # an agent's reply relayed to the user; an attended call followed up
OTHER_ACTION_KINDS = ("note", "assigned", "forwarded", "phone-call")
AUTO_ASSIGN = "%(first reply)"  # the assignment a first reply makes by itself is no action of its own
SLOT_SECONDS = 1800
def _epoch(session: Session, column: Any) -> ColumnElement[Any]:
    """Seconds since 1970 of a stored UTC datetime, in the session's SQL dialect."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", column), BigInteger)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)  # a bigint cast would round


def monthly_report(session: Session, *, month: str, timezone: str, call_line: str = "general") -> MonthlyReport:
    """Compute the month's figures (a handful of aggregate queries)."""
    start, end = month_bounds(month, timezone)
    received = _count_received(session, start, end)
    answers = _answers(session, start, end)
    email_answers, phone_answers = answers["agent"], answers["phone"]
    total_answers = email_answers + phone_answers
    escalated, escalated_tickets, waiting = _escalations(session, start, end)
    timing = _response_times(session, start, end)
    calls = _calls(session, start, end)
    slots, average, peak = _slots(session, start, end, timezone, call_line)
    n_calls = sum(calls.values())
    return MonthlyReport(
        month=month,
        timezone=timezone,
        emails_received=received,
        answers=total_answers,
        answers_by_email=email_answers,
        answers_by_phone=phone_answers,
        answered_ratio_pct=round(100 * total_answers / received, 2) if received else 0.0,
        escalated=share(escalated, received),
        other_actions=share(_other_actions(session, start, end), received),
        escalated_waiting=share(waiting, escalated_tickets),
        escalated_tickets=escalated_tickets,
        under_24h=share(timing["lt24"], timing["n"]),
        under_48h=share(timing["lt48"], timing["n"]),
        over_48h=share(timing["n"] - timing["lt48"], timing["n"]),
        response_buckets=_buckets(timing),
        calls=n_calls,
        attended=share(calls.get("answered", 0), n_calls),
        lost=share(calls.get("lost", 0), n_calls),
        abandoned=share(calls.get("abandoned", 0), n_calls),
        slots=slots,
        quiet_windows=quiet_windows(slots),
        average_wait_seconds=average,
        peak_wait_seconds=peak,
        daily=_daily(session, start, end, timezone),
        categories=_categories(session, start, end),
    )


def _in(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _received_filter(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(_M.direction == "in", _M.kind == "user", _in(_M.created_at, start, end))


def _count_received(session: Session, start: datetime, end: datetime) -> int:
    query = select(func.count()).select_from(Message).where(_received_filter(start, end))
    return int(session.scalar(query) or 0)


def _answers(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    query = (
        select(_M.kind, func.count())
        .where(_M.direction == "in", _M.kind.in_(ANSWER_KINDS), _in(_M.created_at, start, end))
        .group_by(_M.kind)
    )
    found = {kind: int(n) for kind, n in session.execute(query)}
    return {kind: found.get(kind, 0) for kind in ANSWER_KINDS}


def _received_on_tickets(session: Session, start: datetime, end: datetime, tickets: Any) -> int:
    query = select(func.count()).select_from(Message).where(_received_filter(start, end), _M.ticket_id.in_(tickets))
    return int(session.scalar(query) or 0)


def _escalated_tickets(end: datetime) -> Any:
    return select(_E.ticket_id).where(_E.kind == "escalated", _E.at < end)


def _escalations(session: Session, start: datetime, end: datetime) -> tuple[int, int, int]:
    """(received emails on escalated tickets, those tickets, those still unanswered at the end)."""
    escalated = _received_on_tickets(session, start, end, _escalated_tickets(end))
    last = (
        select(_E.ticket_id, func.max(_E.at).label("at"))
        .where(_E.kind == "escalated", _E.at < end)
        .where(_E.ticket_id.in_(select(_M.ticket_id).where(_received_filter(start, end))))
        .group_by(_E.ticket_id)
        .subquery()
    )
    answered_after = (
        select(_M.id)
        .where(
            _M.ticket_id == last.c.ticket_id,
            _M.direction == "in",
            _M.kind.in_(ANSWER_KINDS),
            _M.created_at >= last.c.at,
            _M.created_at < end,
        )
        .exists()
    )
    query = select(func.count(), func.coalesce(func.sum(case((answered_after, 0), else_=1)), 0)).select_from(last)
    tickets, waiting = session.execute(query).one()
    return escalated, int(tickets or 0), int(waiting or 0)


def _other_actions(session: Session, start: datetime, end: datetime) -> int:
    tickets = select(_E.ticket_id).where(
        _E.kind.in_(OTHER_ACTION_KINDS),
        _E.at < end,
        ~and_(_E.kind == "assigned", _E.detail.like(AUTO_ASSIGN)),
    )
    return _received_on_tickets(session, start, end, tickets)


def _response_times(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """Answers of the month by response time, timed from the user's message they answer.

    An answer answers the earliest user message since the ticket's previous answer; an
    answer with none (a second answer in a row) is timed from the latest user message before
    it; a call on a ticket with no user message at all took 0 s.
    """
    m = _M
    is_answer = case((m.kind.in_(ANSWER_KINDS), 1), else_=0)
    t = _epoch(session, m.created_at)
    order = (m.created_at, is_answer, m.id)
    answered = select(m.ticket_id).where(m.direction == "in", m.kind.in_(ANSWER_KINDS), _in(m.created_at, start, end))
    timeline = (
        select(
            m.ticket_id.label("ticket_id"),
            t.label("t"),
            m.created_at.label("at"),
            is_answer.label("is_answer"),
            case((m.kind == "user", t)).label("user_t"),
            (func.sum(is_answer).over(partition_by=m.ticket_id, order_by=order, rows=(None, 0)) - is_answer).label(
                "grp"
            ),
            func.max(case((m.kind == "user", t)))
            .over(partition_by=m.ticket_id, order_by=order, rows=(None, 0))
            .label("last_user"),
        )
        .where(
            m.direction == "in",
            m.kind.in_(("user", *ANSWER_KINDS)),
            m.created_at < end,
            m.ticket_id.in_(answered),
        )
        .subquery()
    )
    first_user = func.min(timeline.c.user_t).over(partition_by=(timeline.c.ticket_id, timeline.c.grp))
    grouped = select(
        timeline.c.t, timeline.c.at, timeline.c.is_answer, timeline.c.last_user, first_user.label("first_user")
    ).subquery()
    seconds = grouped.c.t - func.coalesce(grouped.c.first_user, grouped.c.last_user, grouped.c.t)
    columns = [func.count().label("n")]
    columns += [func.coalesce(func.sum(case((seconds < limit, 1), else_=0)), 0).label(n) for n, limit in RT_BUCKETS]
    query = select(*columns).where(grouped.c.is_answer == 1, grouped.c.at >= start)
    row = session.execute(query).one()._mapping
    found = {key: int(value or 0) for key, value in row.items()}
    return {**found, "lt24": found["8-24h"], "lt48": found["24-48h"]}


def _buckets(timing: dict[str, int]) -> tuple[tuple[str, int], ...]:
    """Cumulative SQL sums as a distribution: answers per response-time band."""
    out, previous = [], 0
    for name, _limit in RT_BUCKETS:
        out.append((name, timing[name] - previous))
        previous = timing[name]
    out.append((">48h", timing["n"] - previous))
    return tuple(out)


def _calls(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    query = select(_C.outcome, func.count()).where(_in(_C.started_at, start, end)).group_by(_C.outcome)
    return {outcome: int(n) for outcome, n in session.execute(query)}


def _half_hours(session: Session, column: Any) -> ColumnElement[Any]:
    # Integer division on both backends: PostgreSQL would round a NUMERIC quotient to the nearest slot.
    return _epoch(session, column) // SLOT_SECONDS


def _slots(
    session: Session, start: datetime, end: datetime, timezone: str, line: str
) -> tuple[tuple[Slot, ...], float, float]:
    """Calls and wait per local half hour (grouped by UTC half hour in SQL, then by local slot)."""
    bucket = _half_hours(session, _C.started_at).label("b")
    query = (
        select(bucket, func.count(), func.sum(_C.wait_seconds))
        .where(_in(_C.started_at, start, end), _C.line == line)
        .group_by(bucket)
    )
    zone = ZoneInfo(timezone)
    totals: dict[str, list[int]] = {}
    for number, calls, wait in session.execute(query):
        local = datetime.fromtimestamp(int(number) * SLOT_SECONDS, UTC).astimezone(zone)
        key = f"{local.hour:02d}:{30 if local.minute >= 30 else 0:02d}"
        slot = totals.setdefault(key, [0, 0])
        slot[0] += int(calls)
        slot[1] += int(wait or 0)
    n = sum(c for c, _ in totals.values())
    average = round(sum(w for _, w in totals.values()) / n, 1) if n else 0.0
    slots = tuple(
        Slot(start=key, calls=c, avg_wait_seconds=round(w / c, 1), quiet=w / c <= average)
        for key, (c, w) in sorted(totals.items())
    )
    peak = max((s.avg_wait_seconds for s in slots), default=0.0)
    return slots, average, peak

def _daily(session: Session, start: datetime, end: datetime, timezone: str) -> tuple[Day, ...]:
    zone = ZoneInfo(timezone)
    first = start.astimezone(zone).date()
    days = {(first + timedelta(days=i)).isoformat(): [0, 0] for i in range((end - start).days + 1)}
    emails = _per_half_hour(session, _received_filter(start, end))
    answer_filter = and_(_M.direction == "in", _M.kind.in_(ANSWER_KINDS), _in(_M.created_at, start, end))
    for column, counts in ((0, emails), (1, _per_half_hour(session, answer_filter))):
        for number, n in counts:
            day = datetime.fromtimestamp(number * SLOT_SECONDS, UTC).astimezone(zone).date().isoformat()
            days.setdefault(day, [0, 0])[column] += n
    last = (end - timedelta(seconds=1)).astimezone(zone).date()
    return tuple(Day(day=d, emails=e, answers=a) for d, (e, a) in sorted(days.items()) if date.fromisoformat(d) <= last)


def _per_half_hour(session: Session, where: ColumnElement[bool]) -> list[tuple[int, int]]:
    bucket = _half_hours(session, _M.created_at).label("b")
    query = select(bucket, func.count()).where(where).group_by(bucket)
    return [(int(b), int(n)) for b, n in session.execute(query)]


def _categories(session: Session, start: datetime, end: datetime) -> tuple[tuple[str, int], ...]:
    query = (
        select(_T.category, func.count())
        .select_from(Message)
        .join(Ticket, _T.id == _M.ticket_id)
        .where(_received_filter(start, end))
        .group_by(_T.category)
    )
    rows = [(str(c), int(n)) for c, n in session.execute(query)]
    return tuple(sorted(rows, key=lambda r: (-r[1], r[0])))



call_slots = _slots  # the acknowledgement's quiet hours read them too (tickets.report.quiet)
