"""recorder: what it received

Revision ID: 0001
Revises:
"""
from alembic import op

from tests.chaos.recorder.service import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    metadata.create_all(op.get_bind())


def downgrade():
    metadata.drop_all(op.get_bind())
