"""mailbox_state.polled_at: when the mailbox was last read successfully (any worker; /healthz)

Revision ID: e3bbd4bf7184
Revises: db6244d8e32a
Create Date: 2026-12-06 03:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tickets.models

revision: str = 'e3bbd4bf7184'
down_revision: str | None = 'db6244d8e32a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('mailbox_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('polled_at', tickets.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mailbox_state', schema=None) as batch_op:
        batch_op.drop_column('polled_at')
