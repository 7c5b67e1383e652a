"""analysis and active governance (Art. 22-25): ticket facts, daily sums, risk warnings, snapshots

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

"""
from alembic import op

from gateway.store.schema import (analysis_daily, analysis_hours, analysis_snapshots, analysis_state, risk_warnings,
                                  ticket_facts)

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

TABLES = (ticket_facts, analysis_daily, analysis_hours, analysis_state, risk_warnings, analysis_snapshots)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
