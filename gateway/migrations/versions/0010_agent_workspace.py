"""agent workspace: when a conversation asked for a human and for which special seat, internal notes, team canned replies, agent skills

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from gateway.store.schema import Id, UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handoff_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('seat', sa.String(length=16), nullable=True))
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skills', sa.JSON(), nullable=True))
    op.create_table(
        'conversation_notes',
        sa.Column('id', Id, primary_key=True, autoincrement=True),
        sa.Column('conversation_id', Id, sa.ForeignKey('conversations.id',
                  name='fk_conversation_notes_conversation_id_conversations'), nullable=False),
        sa.Column('author', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_conversation_notes'),
    )
    op.create_index('ix_conversation_notes_conversation_id', 'conversation_notes', ['conversation_id'])
    op.create_table(
        'canned_replies',
        sa.Column('id', Id, primary_key=True, autoincrement=True),
        sa.Column('shortcut', sa.String(length=32), nullable=False),
        sa.Column('title', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('author', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_canned_replies'),
        sa.UniqueConstraint('shortcut', name='uq_canned_replies_shortcut'),
    )


def downgrade() -> None:
    op.drop_table('canned_replies')
    op.drop_index('ix_conversation_notes_conversation_id', table_name='conversation_notes')
    op.drop_table('conversation_notes')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('skills')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('seat')
        batch_op.drop_column('handoff_at')
