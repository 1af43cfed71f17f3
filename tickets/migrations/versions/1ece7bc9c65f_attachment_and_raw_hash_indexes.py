"""indexes on attachment.sha256 and receipt.raw_sha256 (purge and erasure find the files no
longer referenced without a scan)

Revision ID: 1ece7bc9c65f
Revises: ca5fbf4201a5
Create Date: 2026-12-06 03:20:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '1ece7bc9c65f'
down_revision: str | None = 'ca5fbf4201a5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.create_index('ix_attachment_sha256', ['sha256'], unique=False)
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.create_index('ix_receipt_raw_sha256', ['raw_sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('receipt', schema=None) as batch_op:
        batch_op.drop_index('ix_receipt_raw_sha256')
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_index('ix_attachment_sha256')
