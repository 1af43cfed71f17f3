"""The mail agents' actions cause, as intents (OutgoingEmail) for the shell to render and queue."""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from config.agents import AgentSettings
from config.settings import HelpdeskSettings
from tickets import repository as repo
from tickets.agents import tokens
from tickets.agents.commands import HELP
from tickets.agents.macros import MacroBook
from tickets.agents.routing import Group, Routing
from tickets.attachments import StoredAttachment, human_size
from tickets.ingest import rules
from tickets.listing import earlier_tickets
from tickets.mail_context import (
    AgentNotificationContext,
    AgentReplyContext,
    AgentView,
    AttachmentView,
    CommandErrorContext,
    CommandView,
    EarlierTicket,
    MailContext,
    MessageView,
    ReplyView,
    SlaView,
    requester_of,
    ticket_view,
)
from tickets.models import Ticket
from tickets.sla.policy import SlaPolicy, display_hours
from tickets.values import Attachment, OutgoingEmail

THREAD_KINDS = frozenset({"user", "ack", "agent_reply", "phone_followup"})  # what the user's thread holds
MAX_REFERENCES = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPolicy:
    """What agent handling depends on; built from `[helpdesk]` and `[agents]` by the shell."""

    helpdesk_address: str
    agents: tuple[str, ...]  # lower-case addresses; an agent's token id is its position + 1
    keyring: tokens.Keyring
    supervisors: tuple[str, ...] = ()
    own_addresses: frozenset[str] = frozenset()
    authserv_id: str = ""  # "" = Authentication-Results are not checked
    require_dkim: bool = True
    relay_to_cc: bool = True
    sla: SlaPolicy  # due times of a reopened cycle, targets shown to agents
    categories: tuple[str, ...] = ()  # allowed for #category; empty = any well-formed name
    names: dict[str, str] = field(default_factory=dict)  # agent address -> display name (optional)
    routing: Routing = Routing()  # groups, round-robin, collision guard
    macros: MacroBook | None = None  # canned replies (`#macro NAME`); None = none configured
    attach_max_bytes: int = 10 * 1024 * 1024  # the user's files ride along up to this total

    def is_agent(self, email: str) -> bool:
        return bool(email) and email.lower() in self.agents

    def agent_id(self, email: str) -> int:
        return self.agents.index(email.lower()) + 1

    def agent_at(self, agent_id: int) -> str | None:
        return self.agents[agent_id - 1] if 1 <= agent_id <= len(self.agents) else None


def routing_of(section: AgentSettings) -> Routing:
    """The routing of `[agents]`: groups, round-robin, the collision window."""
    groups = tuple(Group(name=g.name, members=tuple(g.members), categories=tuple(g.categories)) for g in section.groups)
    return Routing(
        groups=groups, round_robin=section.assign == "round-robin", collision_minutes=section.collision_minutes
    )


def agent_policy(
    helpdesk: HelpdeskSettings, agents: AgentSettings | None = None, *, sla: SlaPolicy, macros: MacroBook | None = None
) -> AgentPolicy:
    """The AgentPolicy of a settings tree: `[helpdesk]` plus `[agents]` (defaults when absent) and the SLA."""
    section = agents or AgentSettings()
    if section.keys:
        keyring = tokens.Keyring.of({k: v.get_secret_value() for k, v in section.keys.items()}, section.current_kid)
    else:
        keyring = tokens.Keyring.of({"1": helpdesk.secret.get_secret_value()}, "1")
    return AgentPolicy(
        helpdesk_address=helpdesk.address,
        agents=tuple(dict.fromkeys(helpdesk.agents)),
        keyring=keyring,
        supervisors=tuple(helpdesk.supervisors),
        own_addresses=frozenset([helpdesk.address, *helpdesk.own_addresses]),
        authserv_id=section.authserv_id,
        require_dkim=section.require_dkim,
        relay_to_cc=section.relay_to_cc,
        categories=tuple(dict.fromkeys(["general", *(c.name for c in helpdesk.categories)])),
        sla=sla,
        routing=routing_of(section),
        macros=macros,
        attach_max_bytes=section.attach_max_bytes,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class UserFiles:
    """The files of a user's message as stored (ids for the command) and their bytes."""

    views: tuple[AttachmentView, ...] = ()
    data: tuple[Attachment, ...] = ()

    @classmethod
    def of(cls, stored: Sequence[StoredAttachment], data: Sequence[Attachment]) -> "UserFiles":
        views = tuple(
            AttachmentView(
                id=s.id, filename=s.filename, content_type=s.content_type, size=s.size, size_text=human_size(s.size)
            )
            for s in stored
        )
        return cls(views=views, data=tuple(data))

    def fits(self, max_bytes: int) -> bool:
        """Attach them all (nothing to attach, or the total within the limit)."""
        return sum(v.size for v in self.views) <= max_bytes and len(self.data) == len(self.views)


def sla_view(ticket: Ticket, now: datetime, sla: SlaPolicy) -> SlaView:
    """The ticket's own targets (by its priority) and its due times, for an agent."""

    def left(due: datetime | None) -> float | None:
        return None if due is None else round((due - now).total_seconds() / 3600, 1)

    targets = sla.targets(ticket.priority)
    return SlaView(
        response_hours=display_hours(targets.response_hours),
        hard_hours=display_hours(targets.hard_hours),
        response_due_at=ticket.response_due_at.astimezone(sla.zone) if ticket.response_due_at else None,
        hard_due_at=ticket.hard_due_at.astimezone(sla.zone) if ticket.hard_due_at else None,
        response_hours_left=left(ticket.response_due_at),
        hard_hours_left=left(ticket.hard_due_at),
    )


def customer_history(session: Session, ticket: Ticket, zone: ZoneInfo, *, limit: int = 5) -> tuple[EarlierTicket, ...]:
    """The requester's last tickets before this one, newest first, dated in the service's zone."""
    return tuple(
        EarlierTicket(id=t.id or 0, subject=t.subject, status=t.status, created_at=t.created_at.astimezone(zone))
        for t in earlier_tickets(session, ticket, limit=limit)
    )


def digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()[:24]


def agent_reply_address(ticket: Ticket, agent: str, policy: AgentPolicy) -> str:
    """The reply address that proves a reply comes from `agent` about this ticket (at its token epoch)."""
    assert ticket.id is not None
    token = tokens.mint(
        policy.keyring,
        ticket_id=ticket.id,
        role="a",
        recipient_id=policy.agent_id(agent),
        email=agent,
        epoch=ticket.token_epoch,
    )
    return tokens.reply_address(policy.helpdesk_address, token)


def to_agent(
    ticket: Ticket,
    *,
    kind: str,
    to: str,
    key_prefix: str,
    key: str,
    policy: AgentPolicy,
    context: MailContext,
    in_reply_to: str = "",
    references: tuple[str, ...] = (),
    attachments: tuple[Attachment, ...] = (),
) -> OutgoingEmail:
    """An automatic mail of `kind` to one agent (or supervisor) about the ticket, keyed by
    `key_prefix`, the ticket and a digest of `key` and `to`; an agent's Reply-To carries
    their token, anyone else's is the helpdesk's."""
    assert ticket.id is not None
    return OutgoingEmail(
        kind=kind,
        ticket_id=ticket.id,
        to=(to,),
        idempotency_key=f"{key_prefix}:{ticket.id}:{digest(key, to)}",
        language=ticket.language,
        auto_submitted="auto-generated",
        in_reply_to=in_reply_to,
        references=references,
        reply_to=agent_reply_address(ticket, to, policy) if policy.is_agent(to) else "",
        context=context,
        attachments=attachments,
    )


def outsiders(addresses: Iterable[str], policy: AgentPolicy) -> tuple[str, ...]:
    """The addresses that are neither ours, nor an agent's, nor a supervisor's."""
    staff = {*policy.agents, *policy.supervisors}
    found = rules.not_own((a.lower() for a in addresses), policy.own_addresses | {policy.helpdesk_address})
    return tuple(a for a in found if a not in staff)


def notification(
    ticket: Ticket,
    *,
    to: str,
    event: str,
    message: MessageView,
    key: str,
    now: datetime,
    policy: AgentPolicy,
    thread: Sequence[str] = (),
    history: tuple[EarlierTicket, ...] = (),
    files: UserFiles | None = None,
) -> OutgoingEmail:
    """One agent_notification to one agent (or supervisor), with a Reply-To that carries its token.
    The user's `files` ride along up to `attach_max_bytes` in all, else they are listed."""
    assert ticket.id is not None
    files = files or UserFiles()
    context = AgentNotificationContext(
        ticket=ticket_view(ticket),
        requester=requester_of(ticket),
        event=event,
        message=message,
        sla=sla_view(ticket, now, policy.sla),
        commands=HELP,
        history=history,
        attachments=files.views,
        attachments_attached=files.fits(policy.attach_max_bytes),
        attach_max_text=human_size(policy.attach_max_bytes),
    )
    ids = [m for m in thread if m][-MAX_REFERENCES:]
    return to_agent(
        ticket,
        kind="agent_notification",
        to=to,
        key_prefix="notify",
        key=key,
        policy=policy,
        context=context,
        in_reply_to=ids[-1] if ids else "",
        references=tuple(ids),
        attachments=files.data if context.attachments_attached else (),
    )


REPLACED_TEXT = {
    "es": (
        "Su respuesta se ha enviado. La envió con copia a {who}, que ha visto así la dirección de "
        "respuesta de esta consulta; esa dirección ya no vale. Para responder u ordenar algo sobre la "
        "consulta, responda a este mensaje o a uno más reciente."
    ),
    "en": (
        "Your reply was sent. You copied {who} on it, who could see this ticket's reply address; that "
        "address no longer works. To answer or give a command on this ticket, reply to this message or a "
        "newer one."
    ),
}


def address_replaced(
    ticket: Ticket, *, to: str, seen_by: Sequence[str], key: str, now: datetime, policy: AgentPolicy
) -> OutgoingEmail:
    """Tell the agent whose reply address was seen outside that it was replaced; carries the new one."""
    text = REPLACED_TEXT.get(ticket.language, REPLACED_TEXT["en"]).format(who=", ".join(seen_by))
    message = MessageView(sender=to, name="", text=text)
    return notification(
        ticket, to=to, event="address-replaced", message=message, key=f"replaced:{key}", now=now, policy=policy
    )


def command_error(ticket: Ticket, *, to: str, command: str, error: str, key: str, policy: AgentPolicy) -> OutgoingEmail:
    """Tell an agent (at their configured address) that what they sent was not applied."""
    assert ticket.id is not None
    context = CommandErrorContext(
        ticket=ticket_view(ticket),
        requester=requester_of(ticket),
        command=CommandView(text=command[:200], error=error[:2000]),
        commands=HELP,
    )
    return to_agent(
        ticket,
        kind="command_error",
        to=to,
        key_prefix="command-error",
        key=key,
        policy=policy,
        context=context,
    )


def user_thread(session: Session, ticket_id: int) -> tuple[str, tuple[str, ...]]:
    """(In-Reply-To, References) that put a message in the user's own thread of this ticket."""
    messages = repo.ticket_messages(session, ticket_id)
    ids = [m.message_id for m in messages if m.kind in THREAD_KINDS and m.message_id]
    users = [m.message_id for m in messages if m.direction == "in" and m.kind == "user" and m.message_id]
    parent = users[-1] if users else (ids[-1] if ids else "")
    refs = list(dict.fromkeys(ids))
    if len(refs) > MAX_REFERENCES:
        refs = [refs[0], *refs[-(MAX_REFERENCES - 1) :]]
    return parent, tuple(refs)


def relay_recipients(session: Session, ticket: Ticket, policy: AgentPolicy) -> tuple[str, ...]:
    """The requester, and the people in copy when configured; never our own addresses."""
    assert ticket.id is not None
    found = [ticket.requester_email]
    if policy.relay_to_cc:
        found += sorted(repo.participants(session, [ticket.id]).get(ticket.id, set()))
    found = [a for a in found if not a.endswith(".invalid") and not a.endswith("@invalid")]  # erased people
    return rules.not_own(found, policy.own_addresses | {policy.helpdesk_address})


def agent_reply(
    session: Session,
    ticket: Ticket,
    *,
    text: str,
    agent_name: str,
    key: str,
    policy: AgentPolicy,
    attachments: tuple[Attachment, ...] = (),
) -> OutgoingEmail:
    """The agent's answer (and the files they attached), sent to the user from the support
    address, in the user's thread."""
    assert ticket.id is not None
    parent, refs = user_thread(session, ticket.id)
    return OutgoingEmail(
        kind="agent_reply",
        ticket_id=ticket.id,
        to=relay_recipients(session, ticket, policy),
        idempotency_key=f"agent-reply:{ticket.id}:{key}",
        language=ticket.language,
        in_reply_to=parent,
        references=refs,
        context=AgentReplyContext(
            ticket=ticket_view(ticket),
            requester=requester_of(ticket),
            reply=ReplyView(text=text),
            agent=AgentView(name=agent_name),
        ),
        attachments=attachments,
    )
