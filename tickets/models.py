"""SQLModel tables. (No `from __future__ import annotations` here: sqlmodel#196.)"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class MailboxState(SQLModel, table=True):
    """The committed high-water mark and lease of one mailbox."""

    __tablename__ = "mailbox_state"
    name: str = Field(primary_key=True, max_length=200)
    uidvalidity: int = Field(default=0, sa_type=BigInteger)
    high_water_uid: int = Field(default=0, sa_type=BigInteger)
    lease_owner: str = Field(default="", max_length=200)
    lease_until: datetime | None = utc_column(nullable=True)
    polled_at: datetime | None = utc_column(nullable=True)  # the last successful read of the folder


class Blob(SQLModel, table=True):
    """Content-addressed bytes: raw messages and attachments."""

    __tablename__ = "blob"
    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Ticket(SQLModel, table=True):
    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_status_due", "status", "response_due_at"),
        Index("ix_ticket_requester_status", "requester_email", "status"),
        Index("ix_ticket_agent", "assigned_agent"),
        Index("ix_ticket_category", "category"),
        Index("ix_ticket_created", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default="open", max_length=20)
    priority: str = Field(default="normal", max_length=20)
    category: str = Field(default="general", max_length=100)
    language: str = Field(default="es", max_length=5)
    requester_email: str = Field(max_length=320)
    requester_name: str = Field(default="", max_length=500)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()
    cycle: int = 1
    cycle_started_at: datetime = utc_column()
    response_due_at: datetime | None = utc_column(nullable=True)
    hard_due_at: datetime | None = utc_column(nullable=True)
    first_answered_at: datetime | None = utc_column(nullable=True)
    assigned_agent: str = Field(default="", max_length=320)
    # The group `#assign <group>` gave it to (its members hear of it until an agent takes it).
    assigned_group: str = Field(default="", max_length=100, sa_column_kwargs={"server_default": ""})
    linked_ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    requester_undeliverable: bool = False
    # Raised when one of this ticket's agent reply addresses was seen outside: older tokens fail.
    token_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Receipt(SQLModel, table=True):
    """One spooled message: its bytes were committed before the source was marked (invariant 1)."""

    __tablename__ = "receipt"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_receipt_source"),
        Index("ix_receipt_msgid_sha", "message_id", "raw_sha256"),
        Index("ix_receipt_status_next", "status", "next_attempt_at"),
        Index("ix_receipt_arrived", "arrived_at"),
        Index("ix_receipt_raw_sha256", "raw_sha256"),
    )
    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(max_length=200)
    uidvalidity: int = Field(sa_type=BigInteger)
    uid: int = Field(sa_type=BigInteger)
    raw_sha256: str = Field(max_length=64, foreign_key="blob.sha256")
    message_id: str = Field(default="", max_length=1000)
    size: int = 0
    arrived_at: datetime = utc_column()
    received_at: datetime = utc_column()
    status: str = Field(default="received", max_length=20)  # tickets.ingest.spool.ReceiptStatus
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    attempts: int = 0  # processing attempts so far (poison detection)
    next_attempt_at: datetime | None = utc_column(nullable=True)  # a failed receipt's retry
    claimed_by: str = Field(default="", max_length=200)  # the worker processing it ("host:pid")
    claimed_until: datetime | None = utc_column(nullable=True)
    # The folder the message was copied to on a server without MOVE, set between the COPY and
    # the EXPUNGE: a restart then only deletes it from the inbox, never copies it again.
    copied_to: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    # What the mail log shows, from the parsed message (empty until it was processed):
    sender: str = Field(default="", max_length=320, index=True, sa_column_kwargs={"server_default": ""})
    sender_name: str = Field(default="", max_length=500, sa_column_kwargs={"server_default": ""})
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default="", server_default=""))
    processed_at: datetime | None = utc_column(nullable=True)


class Message(SQLModel, table=True):
    """A message on a ticket, inbound or outbound."""

    __tablename__ = "message"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    receipt_id: int | None = Field(default=None, foreign_key="receipt.id")
    direction: str = Field(max_length=3)  # in | out
    kind: str = Field(max_length=20)  # user | agent | ack | note | bounce | auto | phone ...
    from_addr: str = Field(default="", max_length=320)
    from_name: str = Field(default="", max_length=500)
    to_addrs: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    cc_addrs: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    message_id: str = Field(default="", max_length=1000, index=True)
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    html: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = utc_column()


class AttachmentRow(SQLModel, table=True):
    __tablename__ = "attachment"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    filename: str = Field(default="", max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=255)
    size: int = 0
    sha256: str = Field(max_length=64, foreign_key="blob.sha256", index=True)


class Event(SQLModel, table=True):
    """One line of a ticket's history."""

    __tablename__ = "event"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: datetime = utc_column()
    kind: str = Field(max_length=40)
    actor: str = Field(default="", max_length=320)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Outbox(SQLModel, table=True):
    """A rendered outgoing message, written in the transaction that caused it (invariant 2)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_kind_rcpt_created", "kind", "recipients", "created_at"),
        Index("ix_outbox_claimed_by", "claimed_by"),
    )
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=300, unique=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    kind: str = Field(max_length=40)
    message_id: str = Field(max_length=1000)
    envelope_from: str = Field(default="", max_length=500)
    recipients: str = Field(sa_column=Column(Text, nullable=False))  # comma separated
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default="queued", max_length=20)  # queued|sent|failed|bounced|suppressed
    attempts: int = 0
    created_at: datetime = utc_column()
    next_attempt_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)
    last_reply: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    results: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    claimed_by: str = Field(default="", max_length=200)  # the sender holding it ("host:pid:start"), or ""
    heartbeat_at: datetime | None = utc_column(nullable=True)  # renewed by the holder while it sends


class Participant(SQLModel, table=True):
    """Someone who belongs to a ticket: the requester, people in copy, the assigned agent."""

    __tablename__ = "participant"
    __table_args__ = (UniqueConstraint("ticket_id", "email", name="uq_participant"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    email: str = Field(max_length=320, index=True)
    role: str = Field(default="cc", max_length=20)  # requester | cc | agent


class AgentAway(SQLModel, table=True):
    """An agent marked away (`ventanilla agents away`): round-robin skips them until `until`."""

    __tablename__ = "agent_away"
    email: str = Field(primary_key=True, max_length=320)
    until: datetime = utc_column()
    set_at: datetime = utc_column()


class RoutingTurn(SQLModel, table=True):
    """Round-robin state: the turn at which each member of a group last got a ticket."""

    __tablename__ = "routing_turn"
    group_name: str = Field(primary_key=True, max_length=100)
    agent: str = Field(primary_key=True, max_length=320)
    turn: int = Field(default=0, sa_type=BigInteger)


class SearchText(SQLModel, table=True):
    """The stems of a ticket's subject and of the messages people wrote on it (tickets.search), one
    row per ticket; SQLite indexes `terms` with FTS5 (`search_fts`, kept in step by triggers),
    PostgreSQL with a GIN index over its words."""

    __tablename__ = "search_text"
    ticket_id: int = Field(primary_key=True, foreign_key="ticket.id")
    terms: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
