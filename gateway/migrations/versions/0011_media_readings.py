"""media readings: text read from images and video frames, a photo's position, video facts (issue 18)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

from gateway.store.schema import Id, UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'media_readings',
        sa.Column('attachment_id', Id, sa.ForeignKey('attachments.id',
                  name='fk_media_readings_attachment_id_attachments'), nullable=False),
        sa.Column('message_id', Id, sa.ForeignKey('messages.id', name='fk_media_readings_message_id_messages'),
                  nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('lease_until', UTCDateTime(), nullable=True),
        sa.Column('text', sa.Text(), server_default='', nullable=False),
        sa.Column('confidence', sa.Float(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('applied', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('done_at', UTCDateTime(), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name='ck_media_readings_state'),
        sa.PrimaryKeyConstraint('attachment_id', name='pk_media_readings'),
    )
    op.create_index('ix_media_readings_message_id', 'media_readings', ['message_id'])
    op.create_index('ix_media_readings_state_lease', 'media_readings', ['state', 'lease_until'])
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reported_position', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('reported_position')
    op.drop_index('ix_media_readings_state_lease', table_name='media_readings')
    op.drop_index('ix_media_readings_message_id', table_name='media_readings')
    op.drop_table('media_readings')
