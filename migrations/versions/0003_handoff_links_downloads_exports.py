"""handoff: hand-off links, their downloads, passenger exports

Revision ID: handoff_1
Revises: 0002
Create Date: 2026-11-29 17:00:00
"""

from alembic import op
import sqlalchemy as sa
import app.db.types

revision = 'handoff_1'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('handoff_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('jump_id', sa.Integer(), nullable=True),
    sa.Column('video_path', sa.String(length=1024), nullable=False),
    sa.Column('passenger_name', sa.String(length=200), nullable=True),
    sa.Column('created_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['jump_id'], ['jump.id'], name=op.f('fk_handoff_link_jump_id_jump'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_link'))
    )
    with op.batch_alter_table('handoff_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoff_link_jump_id'), ['jump_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_handoff_link_token'), ['token'], unique=True)

    op.create_table('handoff_download',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('remote_address', sa.String(length=64), nullable=True),
    sa.Column('range_header', sa.String(length=200), nullable=True),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('bytes_sent', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['handoff_link.id'], name=op.f('fk_handoff_download_link_id_handoff_link'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_download'))
    )
    with op.batch_alter_table('handoff_download', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handoff_download_link_id'), ['link_id'], unique=False)

    op.create_table('passenger_export',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('jump_id', sa.Integer(), nullable=True),
    sa.Column('source_dir', sa.String(length=1024), nullable=False),
    sa.Column('dest_dir', sa.String(length=1024), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('files', sa.Integer(), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', app.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', app.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['jump_id'], ['jump.id'], name=op.f('fk_passenger_export_jump_id_jump'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passenger_export'))
    )
    with op.batch_alter_table('passenger_export', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passenger_export_jump_id'), ['jump_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('passenger_export', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passenger_export_jump_id'))
    op.drop_table('passenger_export')
    with op.batch_alter_table('handoff_download', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoff_download_link_id'))
    op.drop_table('handoff_download')
    with op.batch_alter_table('handoff_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handoff_link_token'))
        batch_op.drop_index(batch_op.f('ix_handoff_link_jump_id'))
    op.drop_table('handoff_link')
