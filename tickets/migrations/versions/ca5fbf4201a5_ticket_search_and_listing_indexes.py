"""ticket search (search_text, FTS5 on SQLite, GIN on PostgreSQL) and the listing's indexes

Existing tickets are indexed here: each ticket's subject and the messages people wrote.

Revision ID: ca5fbf4201a5
Revises: d873da3f9fa2
Create Date: 2026-12-06 03:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ca5fbf4201a5'
down_revision: str | None = 'd873da3f9fa2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 2000
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(terms, content='search_text', content_rowid='ticket_id')",
    "CREATE TRIGGER search_text_ai AFTER INSERT ON search_text BEGIN "
    "INSERT INTO search_fts(rowid, terms) VALUES (new.ticket_id, new.terms); END",
    "CREATE TRIGGER search_text_ad AFTER DELETE ON search_text BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.ticket_id, old.terms); END",
    "CREATE TRIGGER search_text_au AFTER UPDATE ON search_text BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.ticket_id, old.terms); "
    "INSERT INTO search_fts(rowid, terms) VALUES (new.ticket_id, new.terms); END",
]
# PostgreSQL: the stems as a stored tsvector, taken as they are (no parser, no dictionary), so a
# search that matches many tickets filters a column instead of building a tsvector per row.
PG_GIN = [
    "ALTER TABLE search_text ADD COLUMN terms_tsv tsvector "
    "GENERATED ALWAYS AS (array_to_tsvector(string_to_array(terms, ' '))) STORED",
    "CREATE INDEX ix_search_text_terms ON search_text USING gin (terms_tsv)",
]


def upgrade() -> None:
    op.create_table(
        'search_text',
        sa.Column('ticket_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('terms', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id']),
        sa.PrimaryKeyConstraint('ticket_id'),
    )
    op.create_index('ix_ticket_agent', 'ticket', ['assigned_agent'], unique=False)
    op.create_index('ix_ticket_category', 'ticket', ['category'], unique=False)
    op.create_index('ix_ticket_created', 'ticket', ['created_at'], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        for statement in SQLITE_FTS:
            op.execute(statement)
    else:
        for statement in PG_GIN:
            op.execute(statement)
    _backfill(bind)


def _backfill(bind: sa.engine.Connection) -> None:
    """One row per ticket: the stems of its subject and of the messages people wrote, in chunks."""
    from tickets import search
    from tickets.threads import SEARCHED_KINDS

    table = sa.table('search_text', sa.column('ticket_id'), sa.column('terms'))
    kinds = ", ".join(f"'{kind}'" for kind in sorted(SEARCHED_KINDS))
    messages = sa.text(
        f"SELECT ticket_id, subject, text FROM message WHERE ticket_id >= :first AND ticket_id <= :last"
        f" AND kind IN ({kinds}) ORDER BY id"
    )
    last = 0
    while True:
        chunk = bind.execute(
            sa.text("SELECT id, subject FROM ticket WHERE id > :last ORDER BY id LIMIT :n"), {"last": last, "n": CHUNK}
        ).all()
        if not chunk:
            break
        texts: dict[int, list[str]] = {ticket: [subject] for ticket, subject in chunk}
        for ticket, subject, body in bind.execute(messages, {"first": chunk[0][0], "last": chunk[-1][0]}):
            texts[ticket] += [subject, body]
        values = [{"ticket_id": ticket, "terms": search.terms(parts)} for ticket, parts in texts.items()]
        bind.execute(table.insert(), values)
        last = chunk[-1][0]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        for name in ('search_text_au', 'search_text_ad', 'search_text_ai'):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE search_fts")
    else:
        op.execute("DROP INDEX ix_search_text_terms")
    for name in ('ix_ticket_created', 'ix_ticket_category', 'ix_ticket_agent'):
        op.drop_index(name, table_name='ticket')
    op.drop_table('search_text')
