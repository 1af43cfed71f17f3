"""durable spool: receipts are written before processing; attempts live on the receipt

Revision ID: 5a1c0e7b9d21
Revises: 4037b7d0e3ef
Create Date: 2026-12-06 01:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tickets.models

revision: str = '5a1c0e7b9d21'
down_revision: str | None = '4037b7d0e3ef'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', tickets.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('claimed_until', tickets.models.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_receipt_status_next', ['status', 'next_attempt_at'], unique=False)
    op.execute("UPDATE receipt SET status = 'received' WHERE status = 'new'")
    op.drop_table('fetch_attempt')


def downgrade() -> None:
    op.create_table(
        'fetch_attempt',
        sa.Column('mailbox', sa.String(length=200), nullable=False),
        sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
        sa.Column('uid', sa.BigInteger(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('mailbox', 'uidvalidity', 'uid'),
    )
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.drop_index('ix_receipt_status_next')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('next_attempt_at')
