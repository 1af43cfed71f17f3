"""web_submission: the web form's accepted submissions, hashed, for its abuse caps

Revision ID: db6244d8e32a
Revises: 1ece7bc9c65f
Create Date: 2026-12-06 03:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tickets.models

revision: str = 'db6244d8e32a'
down_revision: str | None = '1ece7bc9c65f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'web_submission',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', tickets.models.UTCDateTime(), nullable=False),
        sa.Column('ip_key', sa.String(length=64), nullable=False),
        sa.Column('email_key', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('web_submission', schema=None) as batch_op:
        batch_op.create_index('ix_web_submission_ip_at', ['ip_key', 'at'], unique=False)
        batch_op.create_index('ix_web_submission_email_at', ['email_key', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_submission', schema=None) as batch_op:
        batch_op.drop_index('ix_web_submission_email_at')
        batch_op.drop_index('ix_web_submission_ip_at')
    op.drop_table('web_submission')
