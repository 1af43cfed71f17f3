"""ticket search (search_text, FTS5 on SQLite, GIN on PostgreSQL) and the listing's indexes

Existing tickets are indexed here: each ticket's subject and the messages people wrote.

Revision ID: ca5fbf4201a5
Revises: 9d5f2a3b4c18
Create Date: 2026-12-06 03:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ca5fbf4201a5'
down_revision: str | None = '9d5f2a3b4c18'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 2000
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(terms, content='search_text', content_rowid='id')",
    "CREATE TRIGGER search_text_ai AFTER INSERT ON search_text BEGIN "
    "INSERT INTO search_fts(rowid, terms) VALUES (new.id, new.terms); END",
    "CREATE TRIGGER search_text_ad AFTER DELETE ON search_text BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.id, old.terms); END",
    "CREATE TRIGGER search_text_au AFTER UPDATE ON search_text BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, terms) VALUES ('delete', old.id, old.terms); "
    "INSERT INTO search_fts(rowid, terms) VALUES (new.id, new.terms); END",
]
PG_GIN = (
    "CREATE INDEX ix_search_text_terms ON search_text "
    "USING gin (array_to_tsvector(string_to_array(terms, ' ')))"
)


def upgrade() -> None:
    op.create_table(
        'search_text',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('terms', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_search_text_ticket_id', 'search_text', ['ticket_id'], unique=False)
    op.create_index('ix_ticket_agent', 'ticket', ['assigned_agent'], unique=False)
    op.create_index('ix_ticket_category', 'ticket', ['category'], unique=False)
    op.create_index('ix_ticket_created', 'ticket', ['created_at'], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        for statement in SQLITE_FTS:
            op.execute(statement)
    else:
        op.execute(PG_GIN)
    _backfill(bind)


def _backfill(bind: sa.engine.Connection) -> None:
    """The stems of every ticket's subject and of the messages people wrote, in chunks."""
    from tickets import search
    from tickets.threads import SEARCHED_KINDS

    table = sa.table('search_text', sa.column('ticket_id'), sa.column('terms'))
    queries = (
        "SELECT id, id, subject, '' FROM ticket WHERE id > :last ORDER BY id LIMIT :n",
        "SELECT id, ticket_id, subject, text FROM message WHERE id > :last AND kind IN ("
        + ", ".join(f"'{kind}'" for kind in sorted(SEARCHED_KINDS)) + ") ORDER BY id LIMIT :n",
    )
    for query in queries:
        last = 0
        while True:
            rows = bind.execute(sa.text(query), {"last": last, "n": CHUNK}).all()
            if not rows:
                break
            last = rows[-1][0]
            values = [{"ticket_id": ticket, "terms": search.terms([subject, text])} for _, ticket, subject, text in rows]
            values = [v for v in values if v["terms"]]
            if values:
                bind.execute(table.insert(), values)


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
    op.drop_index('ix_search_text_ticket_id', table_name='search_text')
    op.drop_table('search_text')
