"""tickets: indexes for the repeat and same-problem lookups

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_contact', ['contact_id', 'id'], unique=False)
        batch_op.create_index('ix_tickets_category_district', ['category', 'district', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_category_district')
        batch_op.drop_index('ix_tickets_contact')
