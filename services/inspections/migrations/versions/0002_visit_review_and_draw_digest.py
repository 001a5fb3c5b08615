"""inspections: the registers' change history (INS-1); the head's review of an emergency's record and the over-quota
mark (INS-2/3/5); a draw's population digest, seeding time and attempt (INS-6)

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import kernel.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('register_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('register', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('department', sa.String(length=32), nullable=False),
    sa.Column('change', sa.String(length=10), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=160), nullable=False),
    sa.Column('at', kernel.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_register_changes_department_id', 'register_changes', ['department', 'id'])
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('review_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('reviewed_by', sa.String(length=160), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', kernel.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('over_quota', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('draws', schema=None) as batch_op:
        batch_op.add_column(sa.Column('population_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('population_fixed_at', kernel.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('seeded_at', kernel.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('attempt', sa.Integer(), nullable=False, server_default='1'))


def downgrade():
    op.drop_index('ix_register_changes_department_id', table_name='register_changes')
    op.drop_table('register_changes')
    with op.batch_alter_table('draws', schema=None) as batch_op:
        for name in ('attempt', 'seeded_at', 'population_fixed_at', 'population_digest'):
            batch_op.drop_column(name)
    with op.batch_alter_table('visits', schema=None) as batch_op:
        for name in ('over_quota', 'reviewed_at', 'reviewed_by', 'review_reason', 'review'):
            batch_op.drop_column(name)
