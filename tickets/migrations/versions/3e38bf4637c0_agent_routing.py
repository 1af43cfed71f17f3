"""agent routing: ticket.assigned_group, agents marked away, the round-robin turns

Revision ID: 3e38bf4637c0
Revises: a1e7c3d5f902
Create Date: 2026-12-06 03:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tickets.models

revision: str = '3e38bf4637c0'
down_revision: str | None = 'a1e7c3d5f902'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assigned_group', sa.String(length=100), nullable=False, server_default=''))
    op.create_table(
        'agent_away',
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('until', tickets.models.UTCDateTime(), nullable=False),
        sa.Column('set_at', tickets.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('email'),
    )
    op.create_table(
        'routing_turn',
        sa.Column('group_name', sa.String(length=100), nullable=False),
        sa.Column('agent', sa.String(length=320), nullable=False),
        sa.Column('turn', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('group_name', 'agent'),
    )


def downgrade() -> None:
    op.drop_table('routing_turn')
    op.drop_table('agent_away')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_column('assigned_group')
