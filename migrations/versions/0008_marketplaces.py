"""Marketplaces: line items, fulfillments, order names, import files.

Marketplaces: a job's marketplace line item, a shipment's marketplace fulfillment, the order's name on
the marketplace, and stored import files (CSV, Amazon reports).

Reviewed: nullable columns (plain ALTER TABLE ADD COLUMN) and one new table.

Revision ID: 0008_marketplaces
Revises: 0007_event_delivery_index
"""
from alembic import op
import sqlalchemy as sa

revision = '0008_marketplaces'
down_revision = '0007_event_delivery_index'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('orders', sa.Column('external_name', sa.String(length=100), nullable=True))
    op.add_column('jobs', sa.Column('external_ref', sa.String(length=100), nullable=True))
    op.add_column('shipments', sa.Column('marketplace_ref', sa.String(length=200), nullable=True))
    op.add_column('shipments', sa.Column('marketplace_number', sa.String(length=64), nullable=True))
    op.create_table('import_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('mapping', sa.Text(), nullable=True),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_runs'))
    )


def downgrade():
    op.drop_table('import_runs')
    with op.batch_alter_table('shipments') as batch_op:
        batch_op.drop_column('marketplace_number')
        batch_op.drop_column('marketplace_ref')
    with op.batch_alter_table('jobs') as batch_op:
        batch_op.drop_column('external_ref')
    with op.batch_alter_table('orders') as batch_op:
        batch_op.drop_column('external_name')
