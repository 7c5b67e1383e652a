"""unit_users, unit_sessions, ticket_files; kb_entries get an owning unit and a review date

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from gateway.store.schema import Id, UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'unit_users',
        sa.Column('id', Id, primary_key=True, autoincrement=True),
        sa.Column('unit_id', sa.String(length=32), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('display_name', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('password_hash', sa.Text(), nullable=False),
        sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False),
        sa.Column('locked_until', UTCDateTime(), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('staff', 'head')", name='ck_unit_users_role'),
        sa.PrimaryKeyConstraint('id', name='pk_unit_users'),
        sa.UniqueConstraint('username', name='uq_unit_users_username'),
    )
    op.create_index('ix_unit_users_unit_id', 'unit_users', ['unit_id'])
    op.create_table(
        'unit_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', Id, sa.ForeignKey('unit_users.id', name='fk_unit_sessions_user_id_unit_users'),
                  nullable=False),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('token_hash', name='pk_unit_sessions'),
    )
    op.create_index('ix_unit_sessions_user_id', 'unit_sessions', ['user_id'])
    op.create_table(
        'ticket_files',
        sa.Column('id', Id, primary_key=True, autoincrement=True),
        sa.Column('ticket_id', Id, sa.ForeignKey('tickets.id', name='fk_ticket_files_ticket_id_tickets'),
                  nullable=False),
        sa.Column('unit_id', sa.String(length=32), nullable=False),
        sa.Column('uploaded_by', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('content_type', sa.String(length=128), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('storage_key', sa.String(length=255), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=True),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('used_in', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_ticket_files'),
    )
    op.create_index('ix_ticket_files_ticket_id', 'ticket_files', ['ticket_id'])
    with op.batch_alter_table('kb_entries') as batch:
        batch.add_column(sa.Column('unit_id', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('review_due', sa.Date(), nullable=True))
        batch.add_column(sa.Column('reviewed_by', sa.String(length=64), nullable=True))
    op.create_index('ix_kb_entries_unit_id', 'kb_entries', ['unit_id'])


def downgrade() -> None:
    op.drop_index('ix_kb_entries_unit_id', table_name='kb_entries')
    with op.batch_alter_table('kb_entries') as batch:
        batch.drop_column('reviewed_by')
        batch.drop_column('review_due')
        batch.drop_column('unit_id')
    op.drop_index('ix_ticket_files_ticket_id', table_name='ticket_files')
    op.drop_table('ticket_files')
    op.drop_index('ix_unit_sessions_user_id', table_name='unit_sessions')
    op.drop_table('unit_sessions')
    op.drop_index('ix_unit_users_unit_id', table_name='unit_users')
    op.drop_table('unit_users')
