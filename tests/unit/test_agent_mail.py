"""The one shape of an automatic mail to an agent (tickets.agents.mail.to_agent)."""

from datetime import UTC, datetime

from config.sla import SlaSettings
from tests.samples import sample_context
from tickets.agents import tokens
from tickets.agents.mail import AgentPolicy, digest, to_agent
from tickets.models import Ticket
from tickets.sla.policy import SlaPolicy
from tickets.values import OutgoingEmail

HELPDESK = "soporte@ventanilla.example"
ANA = "ana@ventanilla.example"
SUPERVISOR = "jefa@ventanilla.example"
NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
POLICY = AgentPolicy(
    helpdesk_address=HELPDESK,
    agents=("luis@ventanilla.example", ANA),
    supervisors=(SUPERVISOR,),
    keyring=tokens.Keyring.of({"1": "first-secret-0123456789"}, "1"),
    sla=SlaPolicy.from_settings(SlaSettings()),
)


def ticket() -> Ticket:
    return Ticket(id=77, requester_email="maria@example.org", language="en", token_epoch=2)


def test_an_agent_gets_a_reply_to_that_proves_it_is_them_on_this_ticket() -> None:
    out = to_agent(
        ticket(),
        kind="command_error",
        to=ANA.upper(),
        key_prefix="command-error",
        key="k1",
        policy=POLICY,
        context=sample_context("command_error", NOW),
    )
    token = tokens.token_from_address(out.reply_to, HELPDESK)
    assert token is not None and token.ticket_id == 77 and token.recipient_id == 2
    assert tokens.verify(POLICY.keyring, token, email=ANA, epoch=2)
    assert out.kind == "command_error" and out.to == (ANA.upper(),) and out.ticket_id == 77
    assert out.idempotency_key == f"command-error:77:{digest('k1', ANA.upper())}"
    assert out.language == "en" and out.auto_submitted == "auto-generated"
    assert (out.in_reply_to, out.references, out.attachments) == ("", (), ())


def notify(address: str) -> OutgoingEmail:
    return to_agent(
        ticket(),
        kind="agent_notification",
        to=address,
        key_prefix="notify",
        key="k1",
        policy=POLICY,
        context=sample_context("agent_notification", NOW),
        in_reply_to="<b@x>",
        references=("<a@x>", "<b@x>"),
    )


def test_anyone_else_answers_to_the_helpdesk_and_keys_differ_by_recipient() -> None:
    supervisor, agent = notify(SUPERVISOR), notify(ANA)
    assert supervisor.reply_to == "" and agent.reply_to.startswith("soporte+t77.a2.")
    assert supervisor.idempotency_key.startswith("notify:77:")
    assert supervisor.idempotency_key != agent.idempotency_key
    assert (supervisor.in_reply_to, supervisor.references) == ("<b@x>", ("<a@x>", "<b@x>"))
