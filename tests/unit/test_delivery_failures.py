"""B22: what a permanent delivery failure tells its ticket, and whom (a pure decision, table-driven)."""

from dataclasses import dataclass

import pytest

from tickets.models import Ticket
from tickets.outbox.failures import DeliveryFailure, NoticePolicy, delivery_failure, failure_detail, failure_notices

POLICY = NoticePolicy(supervisors=("jefa@ventanilla.example", "jefe@ventanilla.example"), language="en")


@dataclass(frozen=True)
class _Claimed:
    id: int
    ticket_id: int | None
    kind: str
    recipients: tuple[str, ...]


def _failure(kind: str = "ack") -> DeliveryFailure:
    return DeliveryFailure(outbox_id=7, ticket_id=3, kind=kind, recipients=("ana@example.org",), reply="550 5.1.1 no")


def _ticket(agent: str = "") -> Ticket:
    return Ticket(id=3, subject="s", requester_email="ana@example.org", assigned_agent=agent)


@pytest.mark.parametrize(
    ("agent", "kind", "told"),
    [
        ("luis@ventanilla.example", "ack", ["luis@ventanilla.example"]),  # the ticket's agent
        ("", "agent_reply", ["jefa@ventanilla.example", "jefe@ventanilla.example"]),  # nobody's: the supervisors
        ("luis@ventanilla.example", "delivery_failed", []),  # a notice that failed: told to nobody (no loop)
    ],
)
def test_who_is_told(agent: str, kind: str, told: list[str]) -> None:
    notices = failure_notices(_ticket(agent), _failure(kind), POLICY)
    assert [n.to for n in notices] == [(t,) for t in told]
    assert all(n.kind == "delivery_failed" and n.auto_submitted == "auto-generated" for n in notices)
    assert all(n.idempotency_key == f"delivery_failed:7:{t}" for n, t in zip(notices, told, strict=True))


def test_the_refused_recipients_are_named_and_mail_of_no_ticket_tells_nobody() -> None:
    results = {"a@x.org": (250, "ok"), "b@x.org": (550, "550 no")}
    failure = delivery_failure(_Claimed(7, 3, "agent_reply", ("a@x.org", "b@x.org")), results, "b@x.org: 550 no")
    assert failure is not None and failure.recipients == ("b@x.org",)
    assert failure_detail(failure) == "agent_reply to b@x.org not delivered (outbox 7): b@x.org: 550 no"
    assert delivery_failure(_Claimed(8, None, "report", ("a@x.org",)), {}, "554") is None
