"""imported_file: the tolerant-match index is (size, name, modified)

The match of a card's listing against the imported files looks them up by size (names repeat
across cameras, sizes rarely do) and reads (name, size, modified): with all three in the
index the lookup never touches the table rows.

Revision ID: perf_1
Revises: passday_1
Create Date: 2026-11-29 17:00:00
"""

from alembic import op

revision = 'perf_1'
down_revision = 'passday_1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_imported_file_size_name_modified', 'imported_file', ['size', 'name', 'modified'], unique=False)
    op.drop_index('ix_imported_file_name_size', table_name='imported_file')


def downgrade() -> None:
    op.create_index('ix_imported_file_name_size', 'imported_file', ['name', 'size'], unique=False)
    op.drop_index('ix_imported_file_size_name_modified', table_name='imported_file')
