"""receipt.copied_to: the folder a message was copied to, between COPY and EXPUNGE (no MOVE)

Revision ID: 8c4e1f2a9b07
Revises: 7b2d4f6a8c31
Create Date: 2026-12-08 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '8c4e1f2a9b07'
down_revision: str | None = '7b2d4f6a8c31'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('copied_to', sa.String(length=200), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.drop_column('copied_to')
