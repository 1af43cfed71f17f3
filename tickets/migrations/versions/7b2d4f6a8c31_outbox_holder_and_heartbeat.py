"""outbox claims name their holder and carry a heartbeat (no more lease in next_attempt_at)

Revision ID: 7b2d4f6a8c31
Revises: 5e3c1a7b9d20
Create Date: 2026-12-10 09:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tickets.models

revision: str = '7b2d4f6a8c31'
down_revision: str | None = '5e3c1a7b9d20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('heartbeat_at', tickets.models.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_outbox_claimed_by', ['claimed_by'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_claimed_by')
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('claimed_by')
