"""ticket.token_epoch: raised when an agent's reply address was seen outside (old tokens fail)

Revision ID: a1e7c3d5f902
Revises: 9d5f2a3b4c18
Create Date: 2026-12-06 03:20:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a1e7c3d5f902'
down_revision: str | None = '9d5f2a3b4c18'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_epoch', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_column('token_epoch')
