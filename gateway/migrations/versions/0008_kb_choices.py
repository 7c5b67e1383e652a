"""kb_choices: the entries offered with 「您是想问」 and the citizen's pick

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from gateway.store.schema import Id, UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'kb_choices',
        sa.Column('id', Id, primary_key=True, autoincrement=True),
        sa.Column('conversation_id', Id, sa.ForeignKey('conversations.id', name='fk_kb_choices_conversation_id_conversations'),
                  nullable=False),
        sa.Column('message_id', Id, sa.ForeignKey('messages.id', name='fk_kb_choices_message_id_messages'), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('candidates', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('settled_at', UTCDateTime(), nullable=True),
        sa.Column('outcome', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_kb_choices'),
    )
    op.create_index('ix_kb_choices_pending', 'kb_choices', ['conversation_id', 'settled_at'])


def downgrade() -> None:
    op.drop_index('ix_kb_choices_pending', table_name='kb_choices')
    op.drop_table('kb_choices')
