"""receipt: sender, sender name, subject and the time it was processed (the mail log)

Revision ID: 9d5f2a3b4c18
Revises: 8c4e1f2a9b07
Create Date: 2026-12-06 02:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tickets.models

revision: str = '9d5f2a3b4c18'
down_revision: str | None = '8c4e1f2a9b07'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender', sa.String(length=320), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('sender_name', sa.String(length=500), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('subject', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('processed_at', tickets.models.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_receipt_sender', ['sender'], unique=False)
        batch_op.create_index('ix_receipt_arrived', ['arrived_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.drop_index('ix_receipt_arrived')
        batch_op.drop_index('ix_receipt_sender')
        batch_op.drop_column('processed_at')
        batch_op.drop_column('subject')
        batch_op.drop_column('sender_name')
        batch_op.drop_column('sender')
