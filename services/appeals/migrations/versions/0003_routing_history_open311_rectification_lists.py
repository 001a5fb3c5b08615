"""appeals: the routing table's history, Open311 location and contact fields,
rectification lists with evidence

Revision ID: 0003
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import kernel.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN311_COLUMNS = (
    ('lat', sa.Float()), ('long', sa.Float()), ('address_string', sa.String(length=300)),
    ('address_id', sa.String(length=100)), ('contact_email', sa.String(length=200)),
    ('device_id', sa.String(length=200)), ('account_id', sa.String(length=200)),
)


def upgrade():
    op.create_table('routing_history',
    sa.Column('id', BIGINT, autoincrement=True, nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('town', sa.String(length=32), nullable=False),
    sa.Column('change', sa.String(length=8), nullable=False),
    sa.Column('lead_department', sa.String(length=32), nullable=True),
    sa.Column('co_departments', sa.JSON(), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('actor', sa.String(length=160), nullable=False),
    sa.Column('at', kernel.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_routing_history_route', 'routing_history', ['category', 'town', 'id'])
    op.create_table('rectification_lists',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=160), nullable=False),
    sa.Column('created_at', kernel.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rectification_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('list_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('evidence', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_rectification_items_list_id'), ['list_id'], unique=False)
        batch_op.create_foreign_key('fk_rectification_items_list_id', 'rectification_lists',
                                    ['list_id'], ['id'])
    with op.batch_alter_table('appeals', schema=None) as batch_op:
        for name, type_ in OPEN311_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade():
    with op.batch_alter_table('appeals', schema=None) as batch_op:
        for name, _ in reversed(OPEN311_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table('rectification_items', schema=None) as batch_op:
        batch_op.drop_constraint('fk_rectification_items_list_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_rectification_items_list_id'))
        batch_op.drop_column('evidence')
        batch_op.drop_column('list_id')
    op.drop_table('rectification_lists')
    op.drop_index('ix_routing_history_route', table_name='routing_history')
    op.drop_table('routing_history')
