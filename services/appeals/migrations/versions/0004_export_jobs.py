"""appeals: export jobs (issue 13)

Revision ID: 0004
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import kernel.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'export_jobs',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('owner', sa.String(length=240), nullable=False),
        sa.Column('caller', sa.JSON(), nullable=False),
        sa.Column('query', sa.JSON(), nullable=False),
        sa.Column('format', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('rows_done', sa.Integer(), nullable=False),
        sa.Column('rows_total', sa.Integer(), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('filename', sa.String(length=100), nullable=False),
        sa.Column('created_at', kernel.db.UTCDateTime(), nullable=False),
        sa.Column('finished_at', kernel.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_export_jobs_owner', 'export_jobs', ['owner'])


def downgrade():
    op.drop_index('ix_export_jobs_owner', table_name='export_jobs')
    op.drop_table('export_jobs')
