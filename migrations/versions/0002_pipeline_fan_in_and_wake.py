"""pipeline: fan-in edges and wake-while-running flag

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:10:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pipeline_step', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wake_requested', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('pipeline_step_edge', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fan_in', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('pipeline_step_edge', schema=None) as batch_op:
        batch_op.drop_column('fan_in')
    with op.batch_alter_table('pipeline_step', schema=None) as batch_op:
        batch_op.drop_column('wake_requested')
