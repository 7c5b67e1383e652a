"""contacts: blocked by a supervisor (Art. 32)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from gateway.store.schema import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blocked_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('blocked_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('blocked_reason', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('blocked_reason')
        batch_op.drop_column('blocked_by')
        batch_op.drop_column('blocked_at')
