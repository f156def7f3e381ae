"""the setup's library, verified copies, card wipes

Revision ID: cardend_1
Revises: handoff_1
Create Date: 2026-11-29 17:00:00
"""

from alembic import op
import sqlalchemy as sa
import app.db.types
from sqlalchemy.dialects import postgresql

revision = 'cardend_1'
down_revision = 'handoff_1'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('station_library',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('library_id', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('updated_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_library'))
    )
    op.create_table('card_wipe',
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('execution_id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.String(length=128), nullable=False),
    sa.Column('detector_id', sa.String(length=64), nullable=False),
    sa.Column('files', JSON, nullable=False),
    sa.Column('created_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted', JSON, nullable=True),
    sa.Column('kept', JSON, nullable=True),
    sa.ForeignKeyConstraint(['execution_id'], ['pipeline_execution.id'], name=op.f('fk_card_wipe_execution_id_pipeline_execution'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_card_wipe'))
    )
    with op.batch_alter_table('card_wipe', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_wipe_execution_id'), ['execution_id'], unique=False)
    with op.batch_alter_table('imported_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_at', app.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('imported_file', schema=None) as batch_op:
        batch_op.drop_column('verified_at')
    with op.batch_alter_table('card_wipe', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_wipe_execution_id'))
    op.drop_table('card_wipe')
    op.drop_table('station_library')
