"""passengers across cards and cameras; probes (proxy, slices) that search a clip for its code

Revision ID: passday_1
Revises: cardend_1
Create Date: 2026-11-29 17:00:00
"""

from alembic import op
import sqlalchemy as sa

from app.db.types import JSONType, UTCDateTime

revision = 'passday_1'
down_revision = 'cardend_1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'passenger',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('booking_id', sa.String(length=200), nullable=False),
        sa.Column('passenger_name', sa.String(length=200), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('payload', JSONType, nullable=True),
        sa.Column('folder', sa.String(length=1024), nullable=False),
        sa.Column('conflict', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('qr_frame_path', sa.String(length=1024), nullable=True),
        sa.Column('video_state', sa.String(length=16), nullable=False),
        sa.Column('video_path', sa.String(length=1024), nullable=True),
        sa.Column('duration_s', sa.Double(), nullable=True),
        sa.Column('video_error', sa.Text(), nullable=True),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_passenger')),
        sa.UniqueConstraint('booking_id', 'day', 'passenger_name', name=op.f('uq_passenger_booking_id_day_passenger_name')),
    )
    op.create_index(op.f('ix_passenger_booking_id'), 'passenger', ['booking_id'], unique=False)
    op.create_index(op.f('ix_passenger_day'), 'passenger', ['day'], unique=False)
    op.create_table(
        'file_probe',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('file_id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=True),
        sa.Column('step_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('path', sa.String(length=1024), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('offset', sa.BigInteger(), nullable=False),
        sa.Column('length', sa.BigInteger(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('stored_path', sa.String(length=1024), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['file_id'], ['execution_file.id'], name=op.f('fk_file_probe_file_id_execution_file'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['request_id'], ['transfer_request.id'], name=op.f('fk_file_probe_request_id_transfer_request'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['step_id'], ['pipeline_step.id'], name=op.f('fk_file_probe_step_id_pipeline_step'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_file_probe')),
    )
    op.create_index(op.f('ix_file_probe_file_id'), 'file_probe', ['file_id'], unique=False)
    op.create_index(op.f('ix_file_probe_request_id'), 'file_probe', ['request_id'], unique=False)
    with op.batch_alter_table('jump', schema=None) as batch_op:
        batch_op.add_column(sa.Column('passenger_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('camera', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_jump_passenger_id'), ['passenger_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_jump_passenger_id_passenger'), 'passenger', ['passenger_id'], ['id'],
                                    ondelete='SET NULL')
    with op.batch_alter_table('execution_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search', JSONType, nullable=True))
        batch_op.add_column(sa.Column('placed_by_hand', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('execution_file', schema=None) as batch_op:
        batch_op.drop_column('placed_by_hand')
        batch_op.drop_column('search')
    with op.batch_alter_table('jump', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_jump_passenger_id_passenger'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_jump_passenger_id'))
        batch_op.drop_column('camera')
        batch_op.drop_column('passenger_id')
    op.drop_index(op.f('ix_file_probe_request_id'), table_name='file_probe')
    op.drop_index(op.f('ix_file_probe_file_id'), table_name='file_probe')
    op.drop_table('file_probe')
    op.drop_index(op.f('ix_passenger_day'), table_name='passenger')
    op.drop_index(op.f('ix_passenger_booking_id'), table_name='passenger')
    op.drop_table('passenger')
