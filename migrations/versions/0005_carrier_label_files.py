"""Carrier label files on shipments (ZPL passes through to a ZPL printer, PDF goes to CUPS).

Reviewed: two nullable columns, plain ALTER TABLE ADD COLUMN.

Revision ID: 0005_carrier_label_files
Revises: 0004_carrier_tracking
"""
from alembic import op
import sqlalchemy as sa

revision = '0005_carrier_label_files'
down_revision = '0004_carrier_tracking'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('shipments', sa.Column('label_data', sa.LargeBinary(), nullable=True))
    op.add_column('shipments', sa.Column('label_format', sa.String(length=10), nullable=True))


def downgrade():
    with op.batch_alter_table('shipments') as batch_op:
        batch_op.drop_column('label_format')
        batch_op.drop_column('label_data')
