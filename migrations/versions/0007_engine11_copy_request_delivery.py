"""transfer_request: which Detector connection a request was sent on, and when it may be sent

Revision ID: engine11_1
Revises: perf_1
Create Date: 2026-11-29 18:00:00
"""

from alembic import op
import sqlalchemy as sa

import app.db.types

revision = 'engine11_1'
down_revision = 'perf_1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('transfer_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_to', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('send_after', app.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('transfer_request', schema=None) as batch_op:
        batch_op.drop_column('send_after')
        batch_op.drop_column('sent_to')
