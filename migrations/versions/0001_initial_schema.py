"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 02:58:09.016860
"""

from alembic import op
import sqlalchemy as sa
import app.db.types
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pipeline_execution',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pipeline', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('detector_id', sa.String(length=64), nullable=True),
    sa.Column('card_id', sa.String(length=128), nullable=True),
    sa.Column('card_label', sa.String(length=200), nullable=True),
    sa.Column('slot', sa.String(length=32), nullable=True),
    sa.Column('files_total', sa.Integer(), nullable=False),
    sa.Column('files_new', sa.Integer(), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_execution'))
    )
    with op.batch_alter_table('pipeline_execution', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pipeline_execution_card_id'), ['card_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pipeline_execution_state'), ['state'], unique=False)

    op.create_table('jump',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('execution_id', sa.Integer(), nullable=False),
    sa.Column('card_id', sa.String(length=128), nullable=True),
    sa.Column('unassigned', sa.Boolean(), nullable=False),
    sa.Column('booking_id', sa.String(length=200), nullable=True),
    sa.Column('passenger_name', sa.String(length=200), nullable=True),
    sa.Column('passenger', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('jump_date', sa.String(length=10), nullable=True),
    sa.Column('qr_clip', sa.String(length=1024), nullable=True),
    sa.Column('qr_frame_path', sa.String(length=1024), nullable=True),
    sa.Column('output_dir', sa.String(length=1024), nullable=True),
    sa.Column('video_path', sa.String(length=1024), nullable=True),
    sa.Column('duration_s', sa.Double(), nullable=True),
    sa.Column('created_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['execution_id'], ['pipeline_execution.id'], name=op.f('fk_jump_execution_id_pipeline_execution'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jump'))
    )
    with op.batch_alter_table('jump', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jump_booking_id'), ['booking_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jump_execution_id'), ['execution_id'], unique=False)

    op.create_table('pipeline_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('execution_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('deliveries', sa.Integer(), nullable=False),
    sa.Column('spawned_by_id', sa.Integer(), nullable=True),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('output', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('worker_id', sa.String(length=128), nullable=True),
    sa.Column('progress_done', sa.Integer(), nullable=False),
    sa.Column('progress_total', sa.Integer(), nullable=False),
    sa.Column('not_before', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('queued_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['execution_id'], ['pipeline_execution.id'], name=op.f('fk_pipeline_step_execution_id_pipeline_execution'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['spawned_by_id'], ['pipeline_step.id'], name=op.f('fk_pipeline_step_spawned_by_id_pipeline_step'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_step')),
    sa.UniqueConstraint('execution_id', 'name', 'key', name=op.f('uq_pipeline_step_execution_id_name_key'))
    )
    with op.batch_alter_table('pipeline_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pipeline_step_execution_id'), ['execution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pipeline_step_state'), ['state'], unique=False)

    op.create_table('imported_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('modified', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('card_id', sa.String(length=128), nullable=True),
    sa.Column('detector_id', sa.String(length=64), nullable=True),
    sa.Column('source_path', sa.String(length=1024), nullable=False),
    sa.Column('stored_path', sa.String(length=1024), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('jump_id', sa.Integer(), nullable=True),
    sa.Column('execution_id', sa.Integer(), nullable=True),
    sa.Column('media', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('imported_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['execution_id'], ['pipeline_execution.id'], name=op.f('fk_imported_file_execution_id_pipeline_execution'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['jump_id'], ['jump.id'], name=op.f('fk_imported_file_jump_id_jump'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imported_file'))
    )
    with op.batch_alter_table('imported_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imported_file_fingerprint'), ['fingerprint'], unique=True)
        batch_op.create_index('ix_imported_file_name_size', ['name', 'size'], unique=False)

    op.create_table('pipeline_step_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('output', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('worker_id', sa.String(length=128), nullable=True),
    sa.Column('started_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('archived_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['step_id'], ['pipeline_step.id'], name=op.f('fk_pipeline_step_attempt_step_id_pipeline_step'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_step_attempt'))
    )
    with op.batch_alter_table('pipeline_step_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pipeline_step_attempt_step_id'), ['step_id'], unique=False)

    op.create_table('pipeline_step_edge',
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('depends_on_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['depends_on_id'], ['pipeline_step.id'], name=op.f('fk_pipeline_step_edge_depends_on_id_pipeline_step'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['step_id'], ['pipeline_step.id'], name=op.f('fk_pipeline_step_edge_step_id_pipeline_step'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('step_id', 'depends_on_id', name=op.f('pk_pipeline_step_edge'))
    )
    with op.batch_alter_table('pipeline_step_edge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pipeline_step_edge_depends_on_id'), ['depends_on_id'], unique=False)

    op.create_table('pipeline_step_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('ts', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['step_id'], ['pipeline_step.id'], name=op.f('fk_pipeline_step_log_step_id_pipeline_step'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_step_log'))
    )
    with op.batch_alter_table('pipeline_step_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pipeline_step_log_step_id'), ['step_id'], unique=False)

    op.create_table('transfer_request',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('execution_id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=True),
    sa.Column('detector_id', sa.String(length=64), nullable=True),
    sa.Column('card_id', sa.String(length=128), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('dest_dir', sa.String(length=1024), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['execution_id'], ['pipeline_execution.id'], name=op.f('fk_transfer_request_execution_id_pipeline_execution'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['step_id'], ['pipeline_step.id'], name=op.f('fk_transfer_request_step_id_pipeline_step'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_request'))
    )
    with op.batch_alter_table('transfer_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfer_request_execution_id'), ['execution_id'], unique=False)

    op.create_table('execution_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('execution_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('modified', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('copy_attempts', sa.Integer(), nullable=False),
    sa.Column('stored_path', sa.String(length=1024), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('jump_id', sa.Integer(), nullable=True),
    sa.Column('media', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['execution_id'], ['pipeline_execution.id'], name=op.f('fk_execution_file_execution_id_pipeline_execution'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['jump_id'], ['jump.id'], name=op.f('fk_execution_file_jump_id_jump'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['request_id'], ['transfer_request.id'], name=op.f('fk_execution_file_request_id_transfer_request'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_execution_file')),
    sa.UniqueConstraint('execution_id', 'path', name=op.f('uq_execution_file_execution_id_path'))
    )
    with op.batch_alter_table('execution_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_execution_file_execution_id'), ['execution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_execution_file_jump_id'), ['jump_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_execution_file_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_execution_file_state'), ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('execution_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_execution_file_state'))
        batch_op.drop_index(batch_op.f('ix_execution_file_request_id'))
        batch_op.drop_index(batch_op.f('ix_execution_file_jump_id'))
        batch_op.drop_index(batch_op.f('ix_execution_file_execution_id'))

    op.drop_table('execution_file')
    with op.batch_alter_table('transfer_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfer_request_execution_id'))

    op.drop_table('transfer_request')
    with op.batch_alter_table('pipeline_step_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pipeline_step_log_step_id'))

    op.drop_table('pipeline_step_log')
    with op.batch_alter_table('pipeline_step_edge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pipeline_step_edge_depends_on_id'))

    op.drop_table('pipeline_step_edge')
    with op.batch_alter_table('pipeline_step_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pipeline_step_attempt_step_id'))

    op.drop_table('pipeline_step_attempt')
    with op.batch_alter_table('imported_file', schema=None) as batch_op:
        batch_op.drop_index('ix_imported_file_name_size')
        batch_op.drop_index(batch_op.f('ix_imported_file_fingerprint'))

    op.drop_table('imported_file')
    with op.batch_alter_table('pipeline_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pipeline_step_state'))
        batch_op.drop_index(batch_op.f('ix_pipeline_step_execution_id'))

    op.drop_table('pipeline_step')
    with op.batch_alter_table('jump', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jump_execution_id'))
        batch_op.drop_index(batch_op.f('ix_jump_booking_id'))

    op.drop_table('jump')
    with op.batch_alter_table('pipeline_execution', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pipeline_execution_state'))
        batch_op.drop_index(batch_op.f('ix_pipeline_execution_card_id'))

    op.drop_table('pipeline_execution')
