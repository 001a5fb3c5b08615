"""gateway initial schema: API keys (hashes only)

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 04:48:47.700225
"""
from alembic import op
import sqlalchemy as sa
import kernel.db


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', kernel.db.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', kernel.db.UTCDateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade():
    op.drop_table('api_keys')
