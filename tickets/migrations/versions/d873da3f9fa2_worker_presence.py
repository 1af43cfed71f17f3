"""worker_presence: the workers alive on each mailbox (several workers share the mail)

Revision ID: d873da3f9fa2
Revises: 3e38bf4637c0
Create Date: 2026-12-06 03:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tickets.models

revision: str = 'd873da3f9fa2'
down_revision: str | None = '3e38bf4637c0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'worker_presence',
        sa.Column('holder', sa.String(length=200), nullable=False),
        sa.Column('mailbox', sa.String(length=200), nullable=False),
        sa.Column('seen_until', tickets.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('holder'),
    )
    op.create_index('ix_worker_presence_mailbox', 'worker_presence', ['mailbox'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_worker_presence_mailbox', table_name='worker_presence')
    op.drop_table('worker_presence')
