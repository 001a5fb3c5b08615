"""appeals: an export's file kept in the database, in chunks (issue 13)

Any replica serves a download, not only the one that wrote the file.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'export_chunks',
        sa.Column('job_id', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('job_id', 'seq'))


def downgrade():
    op.drop_table('export_chunks')
